// The seed's Node.js TCP client, complete and runnable: the seed's
// snippets stop before their closing braces. The server tests run it
// against the Go server:
//
//	node server/testdata/client.js                      # localhost:6969
//	HOST=127.0.0.1 PORT=7070 node server/testdata/client.js
//
// Not in the seed: HOST and PORT may come from the environment, and an
// 'error' handler prints the error on one line instead of a stack trace.
var net = require('net');

var HOST = process.env.HOST || '';
var PORT = parseInt(process.env.PORT || '6969', 10);

var client = new net.Socket();
client.connect(PORT, HOST, function() {

    console.log('CONNECTED TO: ' + HOST + ':' + PORT);
    // Send data to the server immediately after establishing a connection, and the server will receive this data
    client.write('I am Chuck Norris!');

});

// Add a "data" event processing function to the client
// Data is the data sent back by the server
client.on('data', function(data) {

    console.log('DATA: ' + data);
    // Completely close the connection
    client.destroy();

});

// Add a "close" event processing function to the client
client.on('close', function() {
    console.log('Connection closed');
});

client.on('error', function(err) {
    console.error('client: ' + err.message);
    process.exitCode = 1;
});
