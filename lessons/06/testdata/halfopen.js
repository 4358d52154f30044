// A Node server for lesson 06's claims about allowHalfOpen. It answers
// one connection's request, at the time argv[2] says, and exits:
//   data     in the 'data' callback
//   end      in the 'end' callback
//   tick     in a process.nextTick callback queued in 'end'
//   promise  in a promise's then callback queued in 'end'
//   timeout  10 ms after 'end' (setTimeout), as after a database query
// With argv[3] "allowHalfOpen" the server is created with
// allowHalfOpen: true and calls end() itself after the answer.
// It prints what it sees, one line each, for the Go test.
const net = require('net');

const when = process.argv[2];
const allowHalfOpen = process.argv[3] === 'allowHalfOpen';

const server = net.createServer({ allowHalfOpen }, (socket) => {
  let request = '';
  const answer = () => {
    const ok = socket.write(`You said "${request}"`, (err) => {
      console.log(err ? `write error ${err.code} ${err.message}` : 'write ok');
    });
    console.log(`write returned ${ok}`);
    if (allowHalfOpen) socket.end();
  };
  socket.on('data', (chunk) => {
    request += chunk;
    console.log(`data ${chunk.length} bytes`);
    if (when === 'data') answer();
  });
  socket.on('end', () => {
    console.log('end');
    switch (when) {
      case 'end': answer(); break;
      case 'tick': process.nextTick(answer); break;
      case 'promise': Promise.resolve().then(answer); break;
      case 'timeout': setTimeout(answer, 10); break;
    }
  });
  socket.on('error', (err) => console.log(`error ${err.code} ${err.message}`));
  socket.on('close', () => {
    console.log('close');
    server.close();
  });
});
server.listen(0, '127.0.0.1', () => console.log(`port ${server.address().port}`));
