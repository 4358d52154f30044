// A Node server with the default options (allowHalfOpen: false) that
// only logs what comes, as the seed's does: what does Node do at the
// peer's FIN? It prints its port ("port N"), then each event of its
// one connection.
const net = require('net');

const server = net.createServer((sock) => {
  sock.on('data', (data) => console.log('data ' + data));
  sock.on('end', () => console.log('end'));
  sock.on('close', () => {
    console.log('close');
    server.close();
  });
});
server.listen(0, '127.0.0.1', () => console.log(`port ${server.address().port}`));
