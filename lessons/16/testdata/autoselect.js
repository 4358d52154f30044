// The lesson's claims about Node: net.connect tries the addresses of
// a name as Go's dialer does (autoSelectFamily, on by default since
// Node 20, 250 ms per attempt). Usage: node autoselect.js PORT V6 V4
// [off]: connects to PORT at a name whose lookup answers V6 first, then
// V4, and prints what happened as one JSON line.
const net = require('net');
const [port, v6, v4, off] = process.argv.slice(2);
console.log(JSON.stringify({
  defaults: {
    autoSelectFamily: net.getDefaultAutoSelectFamily(),
    attemptTimeout: net.getDefaultAutoSelectFamilyAttemptTimeout(),
  },
}));
// A lookup that answers both addresses, IPv6 first, as a resolver
// sorting by RFC 6724 would.
function lookup(host, opts, cb) {
  const all = [{ address: v6, family: 6 }, { address: v4, family: 4 }];
  if (opts.all) return cb(null, all);
  cb(null, all[0].address, all[0].family);
}
const start = process.hrtime.bigint();
const ms = () => Number(process.hrtime.bigint() - start) / 1e6;
const opts = { host: 'dual.test', port: Number(port), lookup };
if (off) opts.autoSelectFamily = false;
const s = net.connect(opts);
s.on('connect', () => {
  console.log(JSON.stringify({
    connected: ms(), remoteAddress: s.remoteAddress, remoteFamily: s.remoteFamily,
    attempted: s.autoSelectFamilyAttemptedAddresses,
  }));
  s.end();
  s.resume(); // until the server's FIN: then the socket closes
});
s.on('error', (err) => {
  console.log(JSON.stringify({ error: err.code, after: ms(), attempted: s.autoSelectFamilyAttemptedAddresses }));
});
// With autoSelectFamily off and IPv6 silent, connect would wait for
// the kernel's SYN retries (over two minutes): after a second, say
// whether it is still connecting, and stop.
if (off) {
  setTimeout(() => {
    console.log(JSON.stringify({ waiting: ms(), connecting: s.connecting }));
    s.destroy();
  }, 1000);
}
