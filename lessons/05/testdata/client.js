// The seed's client against a Go server: it says its line and then, as
// argv[3] says, "destroy": destroys the socket at the answer (the
// seed's "Completely close the connection"); "end": ends its side at
// once, before any answer, so that its FIN goes first. It prints its
// local port once connected ("port N"), and "close" at the 'close'
// event.
const net = require('net');
const [port, mode] = [Number(process.argv[2]), process.argv[3]];
const c = net.connect(port, '127.0.0.1', () => {
  console.log(`port ${c.localPort}`);
  c.write('I am Chuck Norris!');
  if (mode === 'end') c.end();
});
c.on('data', () => {
  if (mode === 'destroy') c.destroy();
});
c.on('error', (e) => console.log('error ' + e.code));
c.on('close', () => console.log('close'));
