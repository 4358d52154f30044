// What Node's server.address() says right after listen(), before the
// 'listening' event, for the seed's HOST = '' and for an IP address;
// and, once listening, the address Node bound for ''. It prints one
// JSON line, then the '' server's port ("port N"), and keeps the ''
// server listening until stdin closes, so that the test can look at it
// with ss.
const net = require('net');

const empty = net.createServer();
empty.listen(0, '');
const emptyAtOnce = empty.address();

const ip = net.createServer();
ip.listen(0, '127.0.0.1');
const ipAtOnce = ip.address();

ip.on('listening', () => {
  console.log(JSON.stringify({
    empty: emptyAtOnce,
    ipAtOnce: ipAtOnce,
    ipListening: ip.address(),
  }));
  console.log(`port ${empty.address().port}`);
  ip.close();
  process.stdin.resume();
  process.stdin.on('end', () => empty.close());
});
