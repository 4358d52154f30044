// Connects to HOST PORT, sends a line, and prints what its socket
// emits: "error CODE SYSCALL" and "close HADERROR". It prints
// "connected" once connected, and writes another line when it reads
// "write" on stdin.
const net = require('net');
const [host, port] = process.argv.slice(2);
const s = net.connect(Number(port), host, () => {
  console.log('connected');
  s.write('I am Chuck Norris!\n');
});
s.on('error', (err) => console.log(`error ${err.code} ${err.syscall}`));
s.on('close', (hadError) => {
  console.log(`close ${hadError}`);
  process.exit(0);
});
process.stdin.on('data', () => s.write('still there?\n'));
