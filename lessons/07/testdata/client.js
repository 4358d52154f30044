// A Node client for lesson 07's claims about what a client sees when
// the server closes its connection at once: it connects to the port in
// argv[2], writes argv[3] if given, and prints the events it gets.
const net = require('net');

const socket = net.connect(Number(process.argv[2]), '127.0.0.1', () => {
  console.log('connect');
  if (process.argv[3]) socket.write(process.argv[3], () => console.log('written'));
});
socket.on('data', (chunk) => console.log(`data ${chunk.length} bytes`));
socket.on('end', () => console.log('end'));
socket.on('error', (err) => console.log(`error ${err.code}`));
socket.on('close', () => console.log('close'));
