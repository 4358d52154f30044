// A Node server with pauseOnConnect: true, for lesson 08's claims. It
// listens for 'data' at once but reads nothing until the line "resume"
// comes on stdin; it prints what it sees, one line each, for the Go
// test, and exits after the first connection ends.
const net = require('net');
const readline = require('readline');

let socket;
let total = 0;
const server = net.createServer({ pauseOnConnect: true }, (s) => {
  socket = s;
  console.log('connection');
  s.on('data', (chunk) => { total += chunk.length; });
  s.on('end', () => {
    console.log(`end after ${total} bytes`);
    s.end();
    server.close();
  });
});
server.listen(0, '127.0.0.1', () => console.log(`port ${server.address().port}`));

const input = readline.createInterface({ input: process.stdin });
input.on('line', (line) => {
  if (line !== 'resume') return;
  console.log(`resume after ${total} bytes`);
  socket.resume();
  input.close();
});
