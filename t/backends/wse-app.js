'use strict';

// An HTTP application speaking Pushpin's WebSocket-over-HTTP protocol
// (Content-Type: application/websocket-events), for
// t/111-upstream-websocket-events.t and "bench/run app".
//
//   node t/backends/wse-app.js PORT [LOGFILE]
//
// With LOGFILE, every request is appended to it as one JSON line before it
// is answered: {url, headers: [[name, value], ...], events: [[TYPE,
// content as latin1], ...]}.  "ready" is printed once the port is open.
//
// The answer, per event of the request, in order:
//   OPEN        OPEN, unless X-WS-URI contains "reject" (then nothing)
//   TEXT slow   TEXT "echo:slow", the whole reply 300 ms late
//   TEXT bye    CLOSE 4001 "app says bye"
//   TEXT bad    a malformed event (a length longer than its content)
//   TEXT drop   DISCONNECT
//   TEXT x      TEXT "echo:x"
//   BINARY x    BINARY x
//   CLOSE c     CLOSE c (the acknowledgement Pushpin apps send)
//   DISCONNECT  nothing

const http = require('http');
const fs = require('fs');

const port = parseInt(process.argv[2], 10);
const logFile = process.argv[3];

function parse(body) {
    const events = [];
    let p = 0;

    while (p < body.length) {
        const eol = body.indexOf('\r\n', p);
        if (eol < 0) {
            throw new Error('no CRLF at ' + p);
        }
        const line = body.toString('latin1', p, eol);
        const sp = line.indexOf(' ');
        p = eol + 2;
        if (sp < 0) {
            events.push([line, Buffer.alloc(0)]);
            continue;
        }
        const len = parseInt(line.slice(sp + 1), 16);
        events.push([line.slice(0, sp), body.subarray(p, p + len)]);
        p += len + 2;
    }

    return events;
}

function ev(type, content) {
    if (content === undefined) {
        return Buffer.from(type + '\r\n');
    }
    const c = Buffer.isBuffer(content) ? content : Buffer.from(content);
    return Buffer.concat([Buffer.from(type + ' ' + c.length.toString(16)
                                      + '\r\n'),
                          c, Buffer.from('\r\n')]);
}

http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
        const body = Buffer.concat(chunks);
        let events;
        try {
            events = parse(body);
        } catch (e) {
            res.writeHead(400);
            return res.end(e.message);
        }

        if (logFile) {
            const headers = [];
            for (let i = 0; i < req.rawHeaders.length; i += 2) {
                headers.push([req.rawHeaders[i], req.rawHeaders[i + 1]]);
            }
            fs.appendFileSync(logFile, JSON.stringify({
                url: req.url, headers: headers,
                events: events.map((e) => [e[0], e[1].toString('latin1')]),
            }) + '\n');
        }

        const out = [];
        let delay = 0;

        for (const [type, content] of events) {
            const text = content.toString();
            if (type === 'OPEN') {
                if (!(req.headers['x-ws-uri'] || '').includes('reject')) {
                    out.push(ev('OPEN'));
                }
            } else if (type === 'TEXT') {
                if (text === 'slow') {
                    delay = 300;
                    out.push(ev('TEXT', 'echo:slow'));
                } else if (text === 'bye') {
                    const c = Buffer.alloc(2);
                    c.writeUInt16BE(4001);
                    out.push(ev('CLOSE',
                                Buffer.concat([c, Buffer.from('app says bye')])));
                } else if (text === 'bad') {
                    out.push(Buffer.from('TEXT 10\r\nshort\r\n'));
                } else if (text === 'drop') {
                    out.push(ev('DISCONNECT'));
                } else {
                    out.push(ev('TEXT', 'echo:' + text));
                }
            } else if (type === 'BINARY') {
                out.push(ev('BINARY', content));
            } else if (type === 'CLOSE') {
                out.push(ev('CLOSE', content));
            }
        }

        const send = () => {
            res.writeHead(200, {
                'Content-Type': 'application/websocket-events',
            });
            res.end(Buffer.concat(out));
        };

        if (delay) {
            setTimeout(send, delay);
        } else {
            send();
        }
    });
}).listen(port, '127.0.0.1', () => console.log('ready'));
