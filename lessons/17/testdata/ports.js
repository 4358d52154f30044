// ports.js checks what lesson 17 says of Node, on loopback: it prints
// one line per check.
//
//   reusePort ok|CODE      a second server.listen on the same port with
//                          reusePort: true (Node 20 has no such option)
//   localPort N ok|CODE    net.connect with localPort, twice, the second
//                          while the first is in TIME_WAIT at the client
//   restart P ok ok|CODE   a server on port P that closed its connection first
//                          (TIME_WAIT at the server) listens again on
//                          its port
'use strict';
const net = require('net');

const host = '127.0.0.1';
const localPort = Number(process.argv[2]);

// listen resolves with the server, or with the error's code.
const listen = (opts, onConn) => new Promise((resolve) => {
  const s = net.createServer(onConn || ((c) => { c.resume(); c.on('end', () => c.end()); }));
  s.once('error', (e) => resolve(e.code));
  s.listen({ host, ...opts }, () => resolve(s));
});

// connect sends a line and ends (the client closes first), or, with
// serverFirst, sends it and waits for the server's FIN (Node then ends
// the socket by itself); it resolves once the socket is closed, or
// with the error.
const connect = (opts, serverFirst) => new Promise((resolve) => {
  const c = net.connect({ host, ...opts });
  c.once('error', (e) => resolve(e.code));
  c.on('connect', () => (serverFirst ? c.write : c.end).call(c, 'I am Chuck Norris!\n'));
  c.resume();
  c.on('close', () => resolve('ok'));
});

const close = (s) => new Promise((resolve) => s.close(resolve));

(async () => {
  const a = await listen({ port: 0, reusePort: true });
  const port = a.address().port;
  const b = await listen({ port, reusePort: true });
  console.log(`reusePort ${typeof b === 'string' ? b : 'ok'}`);
  if (typeof b !== 'string') await close(b);

  for (const n of [1, 2]) {
    console.log(`localPort ${n} ${await connect({ port, localAddress: host, localPort })}`);
  }
  await close(a);

  // The server ends each connection first, right after the client's line.
  const first = await listen({ port: 0 }, (c) => c.once('data', () => c.end()));
  const again = first.address().port;
  const ended = await connect({ port: again }, true);
  await close(first);
  const restarted = await listen({ port: again });
  console.log(`restart ${again} ${ended} ${typeof restarted === 'string' ? restarted : 'ok'}`);
  if (typeof restarted !== 'string') await close(restarted);
})();
