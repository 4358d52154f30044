// A Node client that closes first: it connects to the port given,
// ends its side at once (FIN), and prints its own port at 'connect'
// and each event until 'close'.
const net = require('net');

const port = Number(process.argv[2]);
const client = net.connect(port, '127.0.0.1', () => {
  console.log('connect ' + client.localPort);
  client.end();
});
client.on('data', (data) => console.log('data ' + data));
client.on('end', () => console.log('end'));
client.on('close', () => console.log('close'));
