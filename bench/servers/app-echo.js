// The HTTP application of "bench/run app": echoes every message through the
// application path, the same app behind every server of the scenario.
//   node app-echo.js PORT
// It speaks both ngx_ws_module event formats:
//  - application/websocket-events (Pushpin's WebSocket-over-HTTP, also
//    ws_pass_format websocket-events): OPEN is accepted with OPEN, TEXT and
//    BINARY are sent back as they came, CLOSE is acknowledged with CLOSE;
//  - the headers format (ws_pass): a message event's body is sent back with
//    its X-WS-Message-Type.
'use strict';

const http = require('http');

const port = parseInt(process.argv[2], 10);
const WSE = 'application/websocket-events';

function echoEvents(body) {
    const out = [];
    let p = 0;

    while (p < body.length) {
        const eol = body.indexOf('\r\n', p);
        if (eol < 0) {
            break;
        }
        const line = body.toString('latin1', p, eol);
        const sp = line.indexOf(' ');
        const type = sp < 0 ? line : line.slice(0, sp);
        let end = eol + 2;
        if (sp >= 0) {
            end += parseInt(line.slice(sp + 1), 16) + 2;
        }
        if (type === 'OPEN' || type === 'TEXT' || type === 'BINARY'
            || type === 'CLOSE')
        {
            out.push(body.subarray(p, end));
        }
        p = end;
    }

    return Buffer.concat(out);
}

const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
        const body = Buffer.concat(chunks);

        if ((req.headers['content-type'] || '').startsWith(WSE)) {
            res.writeHead(200, { 'Content-Type': WSE });
            return res.end(echoEvents(body));
        }

        if (req.headers['x-ws-event'] !== 'message') {
            res.writeHead(204);
            return res.end();
        }

        res.writeHead(200, {
            'X-WS-Message-Type': req.headers['x-ws-message-type'] || 'binary',
        });
        res.end(body);
    });
});

server.keepAliveTimeout = 600000;
server.listen(port, '127.0.0.1', () => {
    console.log('listening on 127.0.0.1:' + port);
});
