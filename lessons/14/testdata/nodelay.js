// nodelay.js opens TCP connections in the ways lesson 14 names, on
// loopback, and prints each socket's file descriptor, so that the Go
// test can read the socket's TCP_NODELAY option itself:
//
//	socket NAME fd N
//
// then "ready", and waits for a line on stdin before it exits.
'use strict';
const net = require('net');
const http = require('http');

const fds = [];
function report(name, sock) {
  fds.push(`socket ${name} fd ${sock._handle.fd}`);
}

// A plain net server, and clients of it: left as Node makes them, with
// setNoDelay() (no argument: true), setNoDelay(true), and with the
// noDelay option.
function plain() {
  return new Promise((resolve) => {
    const accepted = [];
    const srv = net.createServer((s) => { accepted.push(s); });
    srv.listen(0, '127.0.0.1', () => {
      const port = srv.address().port;
      const a = net.connect(port, '127.0.0.1', () => {
        report('net.connect', a);
        const b = net.connect(port, '127.0.0.1', () => {
          b.setNoDelay();
          report('setNoDelay()', b);
          const c = net.connect({ port, host: '127.0.0.1', noDelay: true }, () => {
            report('net.connect-noDelay', c);
            const d = net.connect(port, '127.0.0.1', () => {
              d.setNoDelay(true);
              report('setNoDelay(true)', d);
            });
            // The server's end of the first connection.
            const wait = setInterval(() => {
              if (accepted.length === 4 && fds.length === 4) {
                clearInterval(wait);
                report('net.createServer', accepted[0]);
                resolve();
              }
            }, 5);
          });
        });
      });
    });
  });
}

// A net server made with noDelay: true.
function serverOption() {
  return new Promise((resolve) => {
    const srv = net.createServer({ noDelay: true }, (s) => {
      report('net.createServer-noDelay', s);
      resolve();
    });
    srv.listen(0, '127.0.0.1', () => {
      net.connect(srv.address().port, '127.0.0.1');
    });
  });
}

// An http server and an http client: both ends of one request.
function viaHTTP() {
  return new Promise((resolve) => {
    const srv = http.createServer((req, res) => {
      report('http.createServer', req.socket);
      res.end('ok');
    });
    srv.listen(0, '127.0.0.1', () => {
      // A keep-alive agent keeps the connection open after the
      // request, for the test to look at.
      const agent = new http.Agent({ keepAlive: true });
      const req = http.get({ port: srv.address().port, host: '127.0.0.1', agent }, (res) => {
        report('http.request', req.socket);
        res.resume();
        resolve();
      });
    });
  });
}

(async () => {
  await plain();
  await serverOption();
  await viaHTTP();
  for (const line of fds) console.log(line);
  console.log('ready');
  process.stdin.once('data', () => process.exit(0));
})();
