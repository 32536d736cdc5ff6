// The application behind examples/chat.conf: a plain HTTP server that serves
// WebSocket clients through ngx_ws_module's events (docs/events.md).
//   node examples/app.js        (listens on 127.0.0.1:3000, or $PORT)
'use strict';
const http = require('http');
const users = { 'Bearer alice-token': 'alice', 'Bearer bob-token': 'bob' };
const seen = new Map();                        // connection id -> messages

http.createServer((req, res) => {
    const h = req.headers, id = h['x-ws-connection-id'], chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
        const body = Buffer.concat(chunks);
        if (req.url === '/auth') {             // ws_auth_request
            const user = users[h.authorization];
            if (!user) {
                res.writeHead(401,
                              { 'WWW-Authenticate': 'Bearer realm="chat"' });
                return res.end();
            }
            res.writeHead(204, { 'X-User': user });     // ws_auth_pass_header
            return res.end();
        }
        switch (h['x-ws-event']) {
        case 'connect':                        // a reply is the first message
            seen.set(id, 0);
            res.writeHead(200, { 'Content-Type': 'application/json' });
            return res.end(JSON.stringify({ hello: h['x-user'], id: id }));
        case 'message':
            seen.set(id, seen.get(id) + 1);
            if (h['x-ws-message-type'] === 'binary') {  // bytes back as bytes
                res.writeHead(200, { 'X-WS-Message-Type': 'binary' });
                return res.end(body);
            }
            if (body.toString() === '/quit') { // close with a code and reason
                res.writeHead(204, { 'X-WS-Close': '4000 bye ' + h['x-user'] });
                return res.end();
            }
            res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8' });
            return res.end(`${h['x-user']} #${h['x-ws-seq']}: ${body}`);
        case 'disconnect':                     // nobody reads this reply
            console.log(`${id} (${h['x-user']}) left: `
                        + `${h['x-ws-close-code']} by ${h['x-ws-closed-by']}, `
                        + `${seen.get(id)} messages`);
            seen.delete(id);
            res.writeHead(204);
            return res.end();
        }
        res.writeHead(404);
        res.end();
    });
}).listen(process.env.PORT || 3000, '127.0.0.1');
