// The application behind the demo (examples/demo.conf, docs/demo.md): a
// chat whose rooms are channels of ngx_ws_module.  nginx holds the
// WebSockets; this server only answers the events of examples/demo.conf's
// /rooms location and publishes to the rooms through nginx's publisher.
// Node core modules only.
//
//   node examples/demo-app.js [PORT [NGINX_PORT]]    (8081, 8080)
//
// A page connects to /rooms?room=NAME&user=NAME and is subscribed to the
// channel room:NAME by nginx, once this server has accepted the room and
// the user (ws_auth_request, /auth).  It sends JSON commands:
//   {"type":"say","text":"..."}           published to its room, with its name
//   {"type":"subscribe","channel":"room:x"}    also follow another room
//   {"type":"unsubscribe","channel":"room:x"}
//   {"type":"who"}                         answered with the room's users
//   ping                                   answered with pong (heartbeat)
// and receives, in envelopes of its room's channel, {"type":"say",...}
// and {"type":"presence","room":...,"users":[...]} messages.  A page
// without a WebSocket (a proxy refused it) follows its room on /events or
// /poll and POSTs its "say" commands to /say?room=NAME&user=NAME.
'use strict';
const http = require('http');

const port = Number(process.argv[2] || process.env.DEMO_APP_PORT || 8081);
const nginxPort = Number(process.argv[3] || process.env.DEMO_PORT || 8080);
const name = /^[\w-]{1,32}$/;              // rooms and users
const conns = new Map();                   // connection id -> {room, user}

function publish(room, message) {
    const body = JSON.stringify(message);
    const req = http.request({
        host: '127.0.0.1', port: nginxPort, method: 'POST',
        path: '/pub?channel=' + encodeURIComponent('room:' + room),
        headers: { 'Content-Type': 'application/json',
                   'Content-Length': Buffer.byteLength(body) }
    }, (res) => {
        res.resume();
        if (res.statusCode !== 200) {
            console.error(`publish to room:${room}: ${res.statusCode}`);
        }
    });

    req.on('error', (e) => console.error(`publish: ${e.message}`));
    req.end(body);
}

function users(room) {
    return [...conns.values()].filter((c) => c.room === room)
                              .map((c) => c.user).sort();
}

function presence(room) {
    publish(room, { type: 'presence', room, users: users(room) });
}

function reply(res, status, headers, body) {
    res.writeHead(status, headers);
    res.end(body);
}

http.createServer((req, res) => {
    const h = req.headers, id = h['x-ws-connection-id'], chunks = [];

    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
        const body = Buffer.concat(chunks).toString();

        if (req.url === '/auth') {
            // ws_auth_request, before the handshake: the room the client
            // is about to join (X-WS-Subscribe) must be a proper one, and
            // so must the user; 403 keeps it out of every room
            const args = new URL(h['x-original-uri'] || '/',
                                 'http://x').searchParams;
            const room = args.get('room'), user = args.get('user');

            if (!name.test(room || '') || !name.test(user || '')
                || h['x-ws-subscribe'] !== 'room:' + room)
            {
                return reply(res, 403, {}, '');
            }
            return reply(res, 204, {}, '');
        }

        if (req.url.split('?')[0] === '/say') {
            // a command POSTed by a page on EventSource or long-poll
            const args = new URL(h['x-original-uri'] || '/',
                                 'http://x').searchParams;
            const room = args.get('room'), user = args.get('user');
            let cmd;

            try {
                cmd = JSON.parse(body);
            } catch (e) {
                cmd = {};
            }

            if (!name.test(room || '') || !name.test(user || '')
                || cmd.type !== 'say' || typeof cmd.text !== 'string'
                || cmd.text.length > 2000)
            {
                return reply(res, 400, {}, '');
            }
            publish(room, { type: 'say', user, text: cmd.text,
                            at: Date.now() });
            return reply(res, 204, {}, '');
        }

        if (req.url !== '/events') {
            return reply(res, 404, {}, '');
        }

        switch (h['x-ws-event']) {
        case 'connect': {
            const args = new URL(h['x-ws-uri'], 'http://x').searchParams;
            const room = args.get('room'), user = args.get('user');

            if (!name.test(room || '') || !name.test(user || '')) {
                return reply(res, 204, { 'X-WS-Close': '4400 bad room or user' },
                             '');
            }
            conns.set(id, { room, user });
            presence(room);
            return reply(res, 200, { 'Content-Type': 'application/json' },
                         JSON.stringify({ type: 'welcome', room, user }));
        }
        case 'disconnect': {
            const c = conns.get(id);

            conns.delete(id);
            if (c) {
                presence(c.room);
            }
            return reply(res, 204, {}, '');
        }
        case 'message':
            break;
        default:
            return reply(res, 400, {}, '');
        }

        const c = conns.get(id);

        if (!c) {
            return reply(res, 204, { 'X-WS-Close': '4400 not connected' }, '');
        }

        if (body === 'ping') {
            return reply(res, 200, { 'Content-Type': 'text/plain' }, 'pong');
        }

        let cmd;

        try {
            cmd = JSON.parse(body);
        } catch (e) {
            cmd = {};
        }

        switch (cmd.type) {
        case 'say':
            if (typeof cmd.text !== 'string' || cmd.text.length > 2000) {
                break;
            }
            publish(c.room, { type: 'say', user: c.user, text: cmd.text,
                              at: Date.now() });
            return reply(res, 204, {}, '');
        case 'who':
            return reply(res, 200, { 'Content-Type': 'application/json' },
                         JSON.stringify({ type: 'who', room: c.room,
                                          users: users(c.room) }));
        case 'subscribe':
        case 'unsubscribe': {
            const m = /^room:([\w-]{1,32})$/.exec(cmd.channel || '');

            if (!m) {
                break;
            }
            return reply(res, 204, {
                [cmd.type === 'subscribe' ? 'X-WS-Subscribe'
                                          : 'X-WS-Unsubscribe']: cmd.channel
            }, '');
        }
        }

        reply(res, 200, { 'Content-Type': 'application/json' },
              JSON.stringify({ type: 'error', error: 'bad command' }));
    });
}).listen(port, '127.0.0.1', () => {
    console.log(`demo app on 127.0.0.1:${port}, nginx on ${nginxPort}`);
});
