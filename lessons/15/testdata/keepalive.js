// Opens sockets as Node makes them, with and without setKeepAlive, and
// one of http.globalAgent's (keepAlive: true in Node 20), prints each
// one's file descriptor ("socket NAME fd N"), then "ready",
// and waits for a line on stdin before it exits.
const net = require('net');
const http = require('http');

const server = net.createServer();
const accepted = [];
server.on('connection', (s) => accepted.push(s));
server.listen(0, '127.0.0.1', () => {
  const port = server.address().port;
  const plain = net.connect(port, '127.0.0.1', () => {
    const ka = net.connect(port, '127.0.0.1', () => {
      ka.setKeepAlive(true, 1000);
      let agent;
      const web = http.createServer((req, res) => res.end('hi'));
      web.listen(0, '127.0.0.1', () => {
        const req = http.get({ host: '127.0.0.1', port: web.address().port }, (res) => {
          agent = req.socket;
          res.resume();
        });
      });
      const wait = setInterval(() => {
        if (accepted.length < 2 || !agent) return;
        clearInterval(wait);
        console.log(`socket net.connect fd ${plain._handle.fd}`);
        console.log(`socket net.createServer fd ${accepted[0]._handle.fd}`);
        console.log(`socket setKeepAlive(true,1000) fd ${ka._handle.fd}`);
        console.log(`socket http.globalAgent fd ${agent._handle.fd}`);
        console.log('ready');
      }, 1);
    });
  });
});
process.stdin.once('data', () => process.exit(0));
