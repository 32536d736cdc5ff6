// A Node "ws" echo server (Debian node-ws), the backend of the
// "nginx proxy_pass -> Node ws" peer in bench/run.
//   NODE_PATH=/usr/share/nodejs node ws-echo.js PORT
'use strict';

const { WebSocketServer } = require('ws');

const port = parseInt(process.argv[2], 10);
const wss = new WebSocketServer({
    host: '127.0.0.1',
    port: port,
    backlog: 4096,
    perMessageDeflate: false,
    maxPayload: 1024 * 1024,
});

wss.on('connection', (ws) => {
    ws.on('message', (data, isBinary) => {
        ws.send(data, { binary: isBinary });
    });
    ws.on('error', () => {});
});

wss.on('listening', () => {
    console.log('listening on 127.0.0.1:' + port);
});
