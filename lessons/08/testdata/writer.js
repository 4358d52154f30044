// A Node client for lesson 08's claim that socket.write() never
// blocks: it writes argv[3] bytes in one call to the port in argv[2],
// prints what write returned as soon as it returns, then 'drain' when
// the bytes have all gone to the kernel, and ends.
const net = require('net');

const size = Number(process.argv[3]);
const socket = net.connect(Number(process.argv[2]), '127.0.0.1', () => {
  const ok = socket.write(Buffer.alloc(size));
  console.log(`write returned ${ok}, writableLength ${socket.writableLength}, highWaterMark ${socket.writableHighWaterMark}`);
  socket.once('drain', () => {
    console.log('drain');
    socket.end();
  });
});
socket.on('error', (err) => console.log(`error ${err.code}`));
