// twowrites.js PORT [nodelay] is lesson 14's client in Node: it sends
// the seed's message four times as the lesson sends it, a 4-byte length
// and the text in two socket.write calls, and waits for the echo each
// time.
// With "nodelay" it calls socket.setNoDelay(true) first. It prints
// "echo N" after each echo, and "done" at the end.
'use strict';
const net = require('net');

const port = Number(process.argv[2]);
const text = Buffer.from('I am Chuck Norris!');
const length = Buffer.alloc(4);
length.writeUInt32BE(text.length);

const sock = net.connect(port, '127.0.0.1', () => {
  if (process.argv[3] === 'nodelay') sock.setNoDelay(true);
  let n = 0;
  let got = 0;
  const send = () => {
    sock.write(length);
    sock.write(text);
  };
  sock.on('data', (d) => {
    got += d.length;
    if (got < text.length) return;
    got = 0;
    console.log(`echo ${++n}`);
    if (n === 4) {
      console.log('done');
      sock.end();
      return;
    }
    send();
  });
  send();
});
