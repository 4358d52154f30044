// Connects to HOST PORT, sends a line, and prints what its socket
// emits: "error CODE SYSCALL" and "close HADERROR". It prints
// "connected fd N" once connected (with "keepalive" as a third
// argument, after setKeepAlive(true, 1000)), and writes another line
// when it reads one on stdin.
const net = require('net');
const [host, port, ka] = process.argv.slice(2);
const s = net.connect(Number(port), host, () => {
  if (ka === 'keepalive') s.setKeepAlive(true, 1000);
  console.log(`connected fd ${s._handle.fd}`);
  s.write('I am Chuck Norris!\n');
});
s.on('error', (err) => console.log(`error ${err.code} ${err.syscall}`));
s.on('close', (hadError) => {
  console.log(`close ${hadError}`);
  process.exit(0);
});
process.stdin.on('data', () => s.write('still there?\n'));
