// What the client tests share: an nginx with the module, started from a
// generated config and stopped by its PID; a TCP proxy in front of it that
// a test can cut, take down or blackhole; publishing over HTTP; waiting.
//
// Ports: each test file has a slot (0-9) and uses the server port
// (TEST_NGINX_SERVER_PORT, TEST_NGINX_PORT or 1984) + 10 + 3 * slot for
// nginx, + 1 for the proxy, + 2 for an app.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import http from 'node:http';
import { fileURLToPath } from 'node:url';

const top = path.resolve(path.dirname(fileURLToPath(import.meta.url)),
                         '../../..');

export const WebSocket = globalThis.WebSocket
    || (await import('/usr/share/nodejs/ws/index.js')).default;

// Where the node suites keep their nginx prefixes: next to the server root
// (TEST_NGINX_SERVROOT, default t/servroot) with "-node" appended, never in
// it: Test::Nginx removes the server root only when it holds nothing but
// what Test::Nginx made.

export function nodeRoot() {
    return path.resolve(top, (process.env.TEST_NGINX_SERVROOT
                              || 't/servroot') + '-node');
}

export function ports(slot) {
    const base = Number(process.env.TEST_NGINX_SERVER_PORT
                        || process.env.TEST_NGINX_PORT || 1984)
                 + 10 + 3 * slot;

    return { nginx: base, proxy: base + 1, app: base + 2 };
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Every test's options: a hung test fails instead of hanging the suite.
export const TIMEOUT = { timeout: 60000 };

// Clients to close when the file ends, whether its tests passed or not: a
// client left reconnecting would keep the test process alive.
const clients = new Set();

export function track(client) {
    clients.add(client);
    return client;
}

export function closeClients() {
    for (const c of clients) {
        c.close();
    }
    clients.clear();
}

// Resolves when cond() is true (polled), rejects after "ms".

export async function until(cond, ms = 5000, what = 'condition') {
    const end = Date.now() + ms;

    while (!cond()) {
        if (Date.now() > end) {
            throw new Error('timed out waiting for ' + what);
        }
        await sleep(10);
    }
}

// The next "type" event of an emitter-like client (on/off).

export function next(client, type, ms = 5000) {
    return new Promise((resolve, reject) => {
        const t = setTimeout(() => {
            off();
            reject(new Error('no "' + type + '" event in ' + ms + ' ms'));
        }, ms);
        const off = client.on(type, (ev) => {
            clearTimeout(t);
            off();
            resolve(ev);
        });
    });
}

function connectable(port) {
    return new Promise((resolve) => {
        const s = net.connect(port, '127.0.0.1');

        s.on('connect', () => { s.destroy(); resolve(true); });
        s.on('error', () => resolve(false));
    });
}

export class Nginx {
    // locations: the server's locations; http: more http-level config
    constructor(slot, { locations, http: httpConf = '',
                        zone = 'ws_zone js 1m history=8;' }) {
        this.port = ports(slot).nginx;
        this.prefix = path.join(nodeRoot(), 'js-client-' + slot);
        this.binary = process.env.TEST_NGINX_BINARY || '/usr/sbin/nginx';
        // set but empty: the module is compiled in (make test-asan)
        this.module = (process.env.TEST_NGINX_LOAD_MODULES
                       ?? path.join(top, 'build', 'ngx_ws_module.so'))
                      .split(/\s+/).filter(Boolean)
                      .map((m) => path.resolve(top, m));
        this.conf = [
            ...this.module.map((m) => `load_module ${m};`),
            // started by root, workers run as "nobody", who may not
            // enter a checkout under /root to read clients/js: root, as
            // Test::Nginx does
            process.getuid?.() === 0 ? 'user root;' : '',
            'daemon off;',
            'master_process on;',
            'worker_processes 1;',
            'error_log logs/error.log info;',
            'pid logs/nginx.pid;',
            'events { worker_connections 256; }',
            'http {',
            '    access_log off;',
            '    client_body_temp_path temp;',
            '    proxy_temp_path temp;',
            '    ' + zone,
            '    ' + httpConf,
            '    server {',
            `        listen 127.0.0.1:${this.port};`,
            '        location /pub {',
            '            ws_publisher js;',
            '        }',
            locations,
            '    }',
            '}',
            ''
        ].join('\n');
        this.proc = null;
    }

    async start() {
        fs.mkdirSync(path.join(this.prefix, 'logs'), { recursive: true });
        fs.mkdirSync(path.join(this.prefix, 'conf'), { recursive: true });
        fs.mkdirSync(path.join(this.prefix, 'temp'), { recursive: true });
        fs.writeFileSync(path.join(this.prefix, 'conf', 'nginx.conf'),
                         this.conf);

        const proc = spawn(this.binary,
                           ['-p', this.prefix + '/', '-c', 'conf/nginx.conf'],
                           { stdio: ['ignore', 'inherit', 'inherit'] });

        this.proc = proc;
        this.exited = new Promise((r) => proc.on('exit', r));

        const end = Date.now() + 5000;

        while (!(await connectable(this.port))) {
            if (proc.exitCode !== null || Date.now() > end) {
                throw new Error('nginx did not start; see '
                                + this.prefix + '/logs/error.log');
            }
            await sleep(20);
        }
    }

    // QUIT: the worker closes its WebSockets with 1001 and exits.
    async stop(signal = 'SIGQUIT') {
        if (this.proc === null) {
            return;
        }

        const proc = this.proc;

        this.proc = null;
        proc.kill(signal);

        const t = setTimeout(() => proc.kill('SIGKILL'), 5000);

        await this.exited;
        clearTimeout(t);
    }

    errorLog() {
        return fs.readFileSync(path.join(this.prefix, 'logs', 'error.log'),
                               'utf8');
    }

    url(p) {
        return `ws://127.0.0.1:${this.port}${p}`;
    }

    // A kept-alive connection that nginx closes as idle (a reload retires
    // its worker) can take the next request with it before nginx read it:
    // that one request is sent again, on a new connection.  A request
    // that nginx did read is never sent twice: its answer came.

    async publish(channel, body, type = 'text/plain') {
        const url = `http://127.0.0.1:${this.port}/pub?channel=`
                    + encodeURIComponent(channel);
        const init = { method: 'POST', body,
                       headers: { 'Content-Type': type } };
        let r;

        try {
            r = await fetch(url, init);

        } catch (e) {
            const code = e.cause && e.cause.code;

            if (code !== 'UND_ERR_SOCKET' && code !== 'ECONNRESET') {
                throw e;
            }

            r = await fetch(url, init);
        }

        if (r.status !== 200) {
            throw new Error('publish: ' + r.status);
        }

        return r.json();
    }
}

// A TCP proxy to nginx: cut() drops its connections, down() also refuses
// new ones until up(), blackhole() keeps them open but forwards nothing.

export class Proxy {
    constructor(slot, target) {
        this.port = ports(slot).proxy;
        this.target = target;
        this.pairs = new Set();
        this.connections = 0;
        this.holes = false;
        this.server = null;
    }

    up() {
        this.server = net.createServer((c) => {
            const s = net.connect(this.target, '127.0.0.1');
            const pair = { c, s };

            this.connections++;
            this.pairs.add(pair);
            c.on('data', (d) => { if (!this.holes) s.write(d); });
            s.on('data', (d) => { if (!this.holes) c.write(d); });

            // a side that ends or fails ends the other once what it
            // forwarded is written (nginx's Close 1001 must get through)
            c.on('end', () => s.end());
            s.on('end', () => c.end());
            c.on('error', () => s.end());
            s.on('error', () => c.end());
            c.on('close', () => { s.end(); this.pairs.delete(pair); });
            s.on('close', () => { c.end(); this.pairs.delete(pair); });
        });

        return new Promise((resolve) => {
            this.server.listen(this.port, '127.0.0.1', resolve);
        });
    }

    cut() {
        for (const { c, s } of this.pairs) {
            c.destroy();
            s.destroy();
        }
        this.pairs.clear();
    }

    async down() {
        const server = this.server;

        this.server = null;

        if (server) {
            const closed = new Promise((r) => server.close(r));

            this.cut();                     // after close(): none comes later
            await closed;
        }
    }

    blackhole(on = true) {
        this.holes = on;
    }

    url(p) {
        return `ws://127.0.0.1:${this.port}${p}`;
    }
}

// An app for ws_pass: answers a JSON command {"type":"subscribe",
// "channel":C} with X-WS-Subscribe (and unsubscribe likewise), "ping" with
// "pong", and echoes anything else.

export function startApp(slot) {
    const port = ports(slot).app;
    const server = http.createServer((req, res) => {
        const chunks = [];

        req.on('data', (c) => chunks.push(c));
        req.on('end', () => {
            const body = Buffer.concat(chunks).toString();
            let cmd = null;

            try {
                cmd = JSON.parse(body);
            } catch (e) {
                /* not a command */
            }

            if (cmd && cmd.type === 'subscribe') {
                res.writeHead(204, { 'X-WS-Subscribe': cmd.channel });
            } else if (cmd && cmd.type === 'unsubscribe') {
                res.writeHead(204, { 'X-WS-Unsubscribe': cmd.channel });
            } else if (body === 'ping') {
                res.writeHead(200);
                return res.end('pong');
            } else {
                res.writeHead(204);
            }
            res.end();
        });
    });

    return new Promise((resolve) => {
        server.listen(port, '127.0.0.1', () => resolve({
            port,
            close: () => new Promise((r) => {
                server.closeAllConnections();
                server.close(r);
            })
        }));
    });
}
