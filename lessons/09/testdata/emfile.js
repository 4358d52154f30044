// A Node server for lesson 09's claim about EMFILE on accept. It
// listens and prints its port; on the line "fill" from stdin it opens
// /dev/null until open fails (the test has lowered its RLIMIT_NOFILE),
// so that no descriptor is free; then it prints every 'connection' and
// server 'error' it gets. It exits when its stdin ends.
const fs = require('fs');
const net = require('net');
const readline = require('readline');

const server = net.createServer((socket) => {
  console.log(`connection ${socket.remotePort}`);
});
server.on('error', (err) => console.log(`server error ${err.code} ${err.syscall}`));
server.listen(0, '127.0.0.1', () => console.log(`port ${server.address().port}`));

const held = [];
readline.createInterface({ input: process.stdin })
  .on('line', (line) => {
    if (line !== 'fill') return;
    try {
      for (;;) held.push(fs.openSync('/dev/null', 'r'));
    } catch (err) {
      console.log(`full after ${held.length} more files: ${err.code}`);
    }
  })
  .on('close', () => process.exit(0));
