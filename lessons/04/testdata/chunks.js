// A Node server that prints the sizes of the 'data' chunks of one
// connection, as JSON, at 'end'. It prints its port first ("port N").
// With the argument "paused" it reads nothing until a line comes on
// stdin (pauseOnConnect, then resume()), so that the test can let every
// byte arrive first.
const net = require('net');
const paused = process.argv[2] === 'paused';
const server = net.createServer({ pauseOnConnect: paused }, (sock) => {
  const sizes = [];
  sock.on('data', (d) => sizes.push(d.length));
  sock.on('end', () => {
    console.log(JSON.stringify(sizes));
    sock.end();
    server.close();
  });
  if (paused) process.stdin.once('data', () => sock.resume());
});
server.listen(0, '127.0.0.1', () => console.log(`port ${server.address().port}`));
