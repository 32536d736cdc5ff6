'use strict';

// A scriptable HTTP application for the ws_pass tests (t/1xx-upstream-*.t).
//
//   node t/backends/app.js PORT LOGFILE
//
// Every request is appended to LOGFILE as one JSON line, synchronously and
// before it is answered: {method, url, headers: [[name, value], ...] in the
// order received, body (base64), inflight (how many requests of the same
// X-WS-Connection-Id were being handled at its arrival, itself included)}.
// "ready" is printed on stdout once the port is open.
//
// The answer is described by the query string of the URL, and, when the
// request body starts with "?", by that body too (it overrides the URL), so
// one nginx config can make single messages fail or reply differently:
//
//   status=N        status code (default 200; 204 sends no body)
//   body=TEXT       reply body, percent-decoded to bytes (%FF is one byte)
//   echo=1          reply body = request body
//   size=N          reply body = N bytes "x"
//   ct=TYPE         Content-Type of the reply
//   mt=text|binary  X-WS-Message-Type of the reply
//   close=VALUE     X-WS-Close of the reply ("4000 bye")
//   hdr=NAME:VALUE  an extra reply header (may repeat)
//   delay=MS        answer after MS milliseconds
//   hold=1          answer only after GET /_release (which answers
//                   "released N"), or at once after GET /_open (until
//                   GET /_reset)
//   drop=1          close the connection without answering
//
// /auth answers as an authentication service, by the Authorization header:
//   "Bearer alice" 200 X-User: alice, X-Role: admin, X-Secret: s3cr3t
//   "Bearer bob"   204 X-User: bob
//   "Bearer carol" 200 X-User: carol, X-Group: admins, X-Group: staff
//   "Bearer expired" 401 WWW-Authenticate: Bearer error="invalid_token"
//   "Bearer banned" 403;  "Bearer teapot" 418;  "Bearer broken" 500
//   none or other   401 WWW-Authenticate: Bearer realm="chat"
// and with /auth?allow=NAME,NAME... a token it accepts gets 403 all the
// same when X-WS-Subscribe or X-WS-Publish names a channel (as sent:
// percent-encoded) that is not in the list.

const http = require('http');
const fs = require('fs');
const querystring = require('querystring');

const port = parseInt(process.argv[2], 10);
const logFile = process.argv[3];

const inflight = new Map();
let held = [];
let open = false;

const tokens = {
    'Bearer alice': [200, { 'X-User': 'alice', 'X-Role': 'admin',
                            'X-Secret': 's3cr3t' }],
    'Bearer bob': [204, { 'X-User': 'bob' }],
    'Bearer carol': [200, { 'X-User': 'carol',
                            'X-Group': ['admins', 'staff'] }],
    'Bearer expired': [401, { 'WWW-Authenticate':
                              'Bearer error="invalid_token"' }],
    'Bearer banned': [403, {}],
    'Bearer teapot': [418, {}],
    'Bearer broken': [500, {}],
};

function params(qs) {
    const p = { hdr: [] };
    for (const part of qs.split('&')) {
        if (part === '') {
            continue;
        }
        const eq = part.indexOf('=');
        const k = eq < 0 ? part : part.slice(0, eq);
        const v = eq < 0 ? '' : part.slice(eq + 1).replace(/\+/g, ' ');
        const b = querystring.unescapeBuffer(v);
        if (k === 'body') {
            p.body = b;
        } else if (k === 'hdr') {
            p.hdr.push(b.toString('latin1'));
        } else {
            p[k] = b.toString('latin1');  // bytes, as header values go out
        }
    }
    return p;
}

function answer(req, res, body) {
    const q = req.url.indexOf('?');
    const p = params(q < 0 ? '' : req.url.slice(q + 1));

    if (body.length && body[0] === 0x3f) {          // "?..." overrides
        const o = params(body.toString('latin1').slice(1));
        p.hdr = p.hdr.concat(o.hdr);
        delete o.hdr;
        Object.assign(p, o);
    }

    if (p.drop) {
        req.socket.destroy();
        return;
    }

    const status = p.status ? parseInt(p.status, 10) : 200;
    const headers = {};

    if (p.ct) headers['Content-Type'] = p.ct;
    if (p.mt) headers['X-WS-Message-Type'] = p.mt;
    if (p.close) headers['X-WS-Close'] = p.close;
    for (const h of p.hdr) {
        const i = h.indexOf(':');
        headers[h.slice(0, i)] = h.slice(i + 1).trim();
    }

    let out = Buffer.alloc(0);
    if (p.echo) out = body;
    if (p.body) out = p.body;
    if (p.size) out = Buffer.alloc(parseInt(p.size, 10), 'x');

    if (status === 204 || status === 304) {
        out = Buffer.alloc(0);
    } else {
        headers['Content-Length'] = out.length;
    }

    res.writeHead(status, headers);
    res.end(out);
}

function allowed(req) {
    const q = req.url.indexOf('?');
    const allow = params(q < 0 ? '' : req.url.slice(q + 1)).allow;
    if (allow === undefined) {
        return true;
    }
    const ok = allow.split(',');
    const want = [req.headers['x-ws-subscribe'], req.headers['x-ws-publish']]
        .filter((v) => v !== undefined).join(',').split(',')
        .filter((v) => v !== '');
    return want.every((name) => ok.includes(name));
}

function auth(req, res) {
    let t = tokens[req.headers.authorization] ||
            [401, { 'WWW-Authenticate': 'Bearer realm="chat"' }];
    if (t[0] < 300 && !allowed(req)) {
        t = [403, {}];
    }
    const headers = Object.assign({}, t[1]);
    const body = t[0] === 204 ? '' : 'auth ' + t[0] + '\n';
    if (t[0] !== 204) headers['Content-Length'] = body.length;
    res.writeHead(t[0], headers);
    res.end(body);
}

const server = http.createServer((req, res) => {
    const chunks = [];

    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
        if (req.url === '/_release' || req.url === '/_open') {
            const n = held.length;
            held.forEach((f) => f());
            held = [];
            open = open || req.url === '/_open';
            res.end('released ' + n + '\n');
            return;
        }

        if (req.url === '/_reset') {
            open = false;
            res.end('reset\n');
            return;
        }

        const body = Buffer.concat(chunks);
        const id = req.headers['x-ws-connection-id'] || '';
        const n = (inflight.get(id) || 0) + 1;
        inflight.set(id, n);

        const headers = [];
        for (let i = 0; i < req.rawHeaders.length; i += 2) {
            headers.push([req.rawHeaders[i], req.rawHeaders[i + 1]]);
        }

        fs.appendFileSync(logFile, JSON.stringify({
            method: req.method, url: req.url, headers: headers,
            body: body.toString('base64'), inflight: n,
        }) + '\n');

        let finished = false;
        const done = () => {
            if (!finished) {
                finished = true;
                inflight.set(id, inflight.get(id) - 1);
            }
        };
        res.on('finish', done);
        res.on('close', done);

        const go = () => {
            if (req.url.startsWith('/auth')) {
                auth(req, res);
            } else {
                answer(req, res, body);
            }
        };

        const q = req.url.indexOf('?');
        const p = params(q < 0 ? '' : req.url.slice(q + 1));
        if (body.length && body[0] === 0x3f) {
            Object.assign(p, params(body.toString('latin1').slice(1)));
        }

        if (p.hold && !open) {
            held.push(go);
        } else if (p.delay) {
            setTimeout(go, parseInt(p.delay, 10));
        } else {
            go();
        }
    });
});

server.keepAliveTimeout = 60000;
server.listen(port, '127.0.0.1', () => console.log('ready'));
