// The lesson's claims about Node's addresses: a server that listens
// with no host listens on :: (both families); an IPv4 client's address
// there is IPv4-mapped, its family 'IPv6'; a client's remoteFamily is
// its connection's family. Prints one JSON line per connection.
const net = require('net');
const srv = net.createServer((s) => {
  s.resume();
  s.on('end', () => s.end());
});
srv.on('connection', (s) => {
  console.log(JSON.stringify({ side: 'server', remoteAddress: s.remoteAddress, remoteFamily: s.remoteFamily }));
});
srv.listen(0, async () => {
  const { address, family, port } = srv.address();
  console.log(JSON.stringify({ side: 'listener', address, family }));
  for (const host of ['127.0.0.1', '::1']) {
    await new Promise((resolve) => {
      const c = net.connect({ host, port }, () => {
        console.log(JSON.stringify({ side: 'client', remoteAddress: c.remoteAddress, remoteFamily: c.remoteFamily }));
        c.end();
        c.resume();
      });
      c.on('close', resolve);
    });
  }
  srv.close();
});
