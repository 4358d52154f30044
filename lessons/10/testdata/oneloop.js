// A Node echo server for lesson 10's claim that one event loop runs
// every connection's callbacks: a 'data' callback that gets "slow" works
// synchronously (it spins until the file argv[2] exists), and nothing
// else runs meanwhile. It prints each answer as it writes it, and exits
// when its stdin ends.
const fs = require('fs');
const net = require('net');

const server = net.createServer((socket) => {
  socket.on('data', (chunk) => {
    const msg = chunk.toString();
    if (msg === 'slow') {
      console.log('busy');
      while (!fs.existsSync(process.argv[2])) {} // slow synchronous work
    }
    socket.write(`You said "${msg}"`);
    console.log(`answer ${msg}`);
  });
});
server.listen(0, '127.0.0.1', () => console.log(`port ${server.address().port}`));
process.stdin.on('data', () => {});
process.stdin.on('end', () => process.exit(0));
