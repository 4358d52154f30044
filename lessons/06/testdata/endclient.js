// A Node client for lesson 06's claim that socket.end() half-closes:
// it writes its request, calls end() at once (a FIN), and still reads
// the answer the server sends after that FIN.
const net = require('net');

const socket = net.connect(Number(process.argv[2]), '127.0.0.1', () => {
  socket.write('I am Chuck Norris!');
  socket.end();
  console.log('ended');
});
let answer = '';
socket.on('data', (chunk) => { answer += chunk; });
socket.on('end', () => console.log(`answer ${JSON.stringify(answer)}`));
socket.on('error', (err) => console.log(`error ${err.code}`));
