// A Node client for lesson 09's claims about the client's 'error'
// event. It connects to argv[3] (an IP address or a name) on port
// argv[2] and prints the events it gets, one line each:
//   --dns PORT   resolve names with Node's resolver, asking 127.0.0.1:PORT
//                (the lab DNS server) instead of the system's
//   --timeout MS socket.setTimeout(MS)
// After 'timeout' it prints whether the socket is still connecting,
// then destroys it. It exits when the socket closes.
const dns = require('dns');
const net = require('net');

const args = process.argv.slice(2);
const options = { port: Number(args[0]), host: args[1] };
let timeout = 0;
for (let i = 2; i < args.length; i += 2) {
  if (args[i] === '--dns') {
    const resolver = new dns.Resolver();
    resolver.setServers([`127.0.0.1:${args[i + 1]}`]);
    options.lookup = (host, opts, cb) => resolver.resolve4(host, (err, addrs) => {
      if (err) return cb(err);
      if (opts.all) return cb(null, addrs.map((address) => ({ address, family: 4 })));
      cb(null, addrs[0], 4);
    });
  }
  if (args[i] === '--timeout') timeout = Number(args[i + 1]);
}

const socket = net.connect(options, () => console.log('connect'));
if (timeout) {
  socket.setTimeout(timeout, () => {
    console.log(`timeout, connecting ${socket.connecting}, destroyed ${socket.destroyed}`);
    socket.destroy();
  });
}
socket.on('data', (chunk) => console.log(`data ${chunk.length} bytes`));
socket.on('end', () => console.log('end'));
socket.on('error', (err) => {
  const facts = ['address', 'port', 'hostname'].filter((k) => err[k] !== undefined);
  console.log(`error ${err.code} ${err.syscall}` + (facts.length ? ` ${facts.join(' ')}` : ''));
});
socket.on('close', () => console.log('close'));
