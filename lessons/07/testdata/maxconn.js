// A Node server with maxConnections = 1, for lesson 07's claims. It
// greets the connection it keeps and prints what it sees, one line
// each, for the Go test. On the line "block PATH" from stdin it keeps
// its event loop busy until the file PATH exists, so that connections
// queue up unaccepted, as the lesson's first server does until step 3.
// It exits when its stdin ends.
const fs = require('fs');
const net = require('net');
const readline = require('readline');

const server = net.createServer((socket) => {
  console.log(`connection ${socket.remotePort}`);
  socket.write('welcome\n');
  socket.on('error', (err) => console.log(`socket error ${err.code}`));
});
server.maxConnections = 1;
server.on('drop', (data) => console.log(`drop ${data.remotePort}`));
server.on('error', (err) => console.log(`server error ${err.code}`));
server.listen(0, '127.0.0.1', () => console.log(`port ${server.address().port}`));

readline.createInterface({ input: process.stdin })
  .on('line', (line) => {
    const [cmd, path] = line.split(' ');
    if (cmd !== 'block') return;
    console.log('blocked');
    while (!fs.existsSync(path)) {} // busy: no callback runs
    console.log('unblocked');
  })
  .on('close', () => process.exit(0));
