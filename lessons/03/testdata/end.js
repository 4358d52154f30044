// A Node server with the default allowHalfOpen: false. For the one
// connection a Go client makes, it logs the socket's events and when
// end() is called, and prints the log as JSON at 'close'. It prints its
// port first ("port N").
const net = require('net');
const server = net.createServer((sock) => {
  const log = [];
  const end = sock.end;
  sock.end = function (...args) {
    log.push('end()');
    return end.apply(this, args);
  };
  sock.on('data', () => log.push("'data'"));
  sock.on('end', () => log.push("'end'"));
  sock.on('finish', () => log.push("'finish'"));
  sock.on('close', () => {
    log.push("'close'");
    console.log(JSON.stringify(log));
    server.close();
  });
});
server.listen(0, '127.0.0.1', () => console.log(`port ${server.address().port}`));
