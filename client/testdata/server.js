// The seed's Node.js TCP server, complete and runnable: the seed's
// snippet stops inside the 'connection' handler. The lines the seed
// leaves out are those of the well-known example it comes from: print
// each 'data' chunk, answer `You said "…"`, print CLOSED on 'close'.
// The client tests run the Go client against it:
//
//	node client/testdata/server.js                       # all interfaces, port 6969
//	HOST=127.0.0.1 PORT=0 node client/testdata/server.js # the kernel chooses a port
//
// Not in the seed: HOST and PORT may come from the environment, and
// the "Server listening" line is printed once the server listens. The
// seed prints it right after listen(), which works only because HOST is
// '' there: with a HOST such as '127.0.0.1', Node looks the host up
// first and server.address() is still null on the next line.
var net = require('net');

var HOST = process.env.HOST || '';
var PORT = parseInt(process.env.PORT || '6969', 10);

// Create a TCP server instance, and call the listen function to start listening on the specified port
// The callback function passed to net.createServer() will be the event handler for the "connection" event
// In each "connection" event, the socket object received by this callback function is unique
var server = net.createServer();
server.listen(PORT, HOST, function() {
    console.log('Server listening on ' +
        server.address().address + ':' + server.address().port);
});

server.on('connection', function(sock) {
    console.log('CONNECTED: ' +
         sock.remoteAddress +':'+ sock.remotePort);

    // Remember the peer: Node forgets remoteAddress once the socket is closed.
    var remoteAddress = sock.remoteAddress, remotePort = sock.remotePort;

    sock.on('data', function(data) {
        console.log('DATA ' + remoteAddress + ': ' + data);
        sock.write('You said "' + data + '"');
    });

    sock.on('close', function() {
        console.log('CLOSED: ' + remoteAddress + ' ' + remotePort);
    });

    sock.on('error', function(err) {
        console.log('ERROR ' + remoteAddress + ': ' + err.message);
    });
});
