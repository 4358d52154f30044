// Node's server._connections, the counter the seed's onconnection
// increments: read at each 'connection' event and again after one of
// the two connections has closed. Prints the counts as JSON.
const net = require('net');
const counts = [];
const server = net.createServer((sock) => {
  counts.push(server._connections);
  sock.on('close', () => {
    counts.push(server._connections);
    if (counts.length === 3) {
      console.log(JSON.stringify(counts));
      second.destroy();
      server.close();
    }
  });
  if (counts.length === 2) first.end(); // the first client closes
  sock.on('end', () => sock.end());
});
let first, second;
server.listen(0, '127.0.0.1', () => {
  const port = server.address().port;
  first = net.connect(port, '127.0.0.1', () => {
    second = net.connect(port, '127.0.0.1');
    second.on('error', () => {});
  });
  first.on('data', () => {});
});
