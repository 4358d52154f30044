// A Node server with the default allowHalfOpen: false that reads and
// says nothing: at the client's FIN Node ends its side by itself. It
// prints its port ("port N"), and "close" at the socket's 'close' event.
const net = require('net');
const server = net.createServer((sock) => {
  sock.on('data', () => {});
  sock.on('close', () => {
    console.log('close');
    server.close();
  });
});
server.listen(0, '127.0.0.1', () => console.log(`port ${server.address().port}`));
