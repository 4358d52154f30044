// A server with one connection that stays; "close" on stdin calls
// server.close(). It prints the server's events.
const net = require('net');
const readline = require('readline');

const server = net.createServer((sock) => {
  console.log('connection');
  sock.on('end', () => sock.end());
  sock.on('close', () => console.log('socket close'));
});
server.on('close', () => console.log('server close'));
server.listen(0, '127.0.0.1', () => console.log('port ' + server.address().port));

readline.createInterface({ input: process.stdin }).on('line', (line) => {
  if (line === 'close') {
    server.close();
    console.log('close called');
  }
});
