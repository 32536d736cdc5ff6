// The demo's chat where WebSockets do not get through, in headless
// Chromium (puppeteer-core): util/demo runs the demo on the server port
// + 60 (nginx) and + 61 (the app), and a second nginx in front of it
// serves the same site on + 62 refusing every upgrade with 403, on + 63
// passing requests on without their Upgrade header (as nginx does unless
// told otherwise), and on + 64 refusing upgrades and event streams, so
// that only long-polling gets through.  The pages fall back (ws-client.js)
// and still chat; one that goes offline comes back with exactly what it
// missed.  Run by t/098-js-client-fallback.t.

import test, { before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const top = path.resolve(path.dirname(fileURLToPath(import.meta.url)),
                         '../..');
const puppeteer = createRequire(path.join(top, 'build/npm/'))
                  ('puppeteer-core');

const base = Number(process.env.TEST_NGINX_SERVER_PORT
                    || process.env.TEST_NGINX_PORT || 1984);
const root = path.resolve(top, (process.env.TEST_NGINX_SERVROOT
                                || 't/servroot') + '-node');
const nginx = process.env.NGINX_BIN || '/usr/sbin/nginx';
const ports = await freeRun(base + 60, 5);
const env = {
    ...process.env,
    DEMO_PORT: String(ports[0]),
    DEMO_APP_PORT: String(ports[1]),
    DEMO_PREFIX: path.join(root, 'demo-fallback')
};
const direct = `http://127.0.0.1:${ports[0]}`;
const refusing = `http://127.0.0.1:${ports[2]}`;
const stripping = `http://127.0.0.1:${ports[3]}`;
const pollOnly = `http://127.0.0.1:${ports[4]}`;
const front = path.join(root, 'front');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function free(port) {
    return new Promise((resolve) => {
        const srv = net.createServer();
        srv.once('error', () => resolve(false));
        srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
    });
}

async function freeRun(from, n) {
    for (let p = from; p < from + 200; p += n) {
        let ok = true;

        for (let i = 0; i < n && ok; i++) {
            ok = await free(p + i);
        }

        if (ok) {
            return [...Array(n).keys()].map((i) => p + i);
        }
    }
    throw new Error(`no ${n} free ports from ${from}`);
}

// the intermediary: plain nginx, no module
function frontConf() {
    const pass = `
            proxy_pass http://demo;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_read_timeout 1h;`;

    return `
pid ${front}/logs/nginx.pid;
error_log ${front}/logs/error.log info;
events { worker_connections 512; }
http {
    access_log ${front}/logs/access.log;
    upstream demo { server 127.0.0.1:${ports[0]}; keepalive 8; }

    server {                        # refuses upgrades
        listen 127.0.0.1:${ports[2]};
        location / {
            if ($http_upgrade) { return 403; }${pass}
        }
    }

    server {                        # strips Upgrade
        listen 127.0.0.1:${ports[3]};
        location / {${pass}
        }
    }

    server {                        # neither upgrades nor event streams
        listen 127.0.0.1:${ports[4]};
        location / {
            if ($http_upgrade) { return 403; }${pass}
        }
        location /events {
            return 403;
        }
    }
}
`;
}

let browser;

before(async () => {
    execFileSync(path.join(top, 'util/demo'), ['start'],
                 { env, stdio: ['ignore', 'ignore', 'inherit'] });
    fs.mkdirSync(path.join(front, 'logs'), { recursive: true });
    fs.writeFileSync(path.join(front, 'nginx.conf'), frontConf());
    execFileSync(nginx, ['-p', front, '-c', path.join(front, 'nginx.conf')],
                 { stdio: ['ignore', 'ignore', 'inherit'] });
    browser = await puppeteer.launch({
        executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
        headless: true,
        dumpio: !!process.env.DEMO_DUMPIO,
        args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage',
               '--disable-background-timer-throttling',
               '--disable-backgrounding-occluded-windows',
               '--disable-renderer-backgrounding']
    });
});

after(async () => {
    if (browser) {
        await browser.close();
    }
    try {
        const pid = Number(fs.readFileSync(path.join(front, 'logs/nginx.pid'),
                                           'utf8'));
        process.kill(pid, 'SIGQUIT');
    } catch (e) {
        /* not started */
    }
    execFileSync(path.join(top, 'util/demo'), ['stop'],
                 { env, stdio: 'inherit' });
});

async function open(site, room, user, transport) {
    const page = await browser.newPage();

    page.errors = [];
    page.on('pageerror', (e) => { page.errors.push(String(e)); });
    await page.goto(`${site}/?room=${room}&user=${user}`);
    await page.waitForFunction((t) => window.demo
                               && window.demo.client.state === 'open'
                               && window.demo.client.transport === t,
                               { timeout: 15000 }, transport);
    return page;
}

async function say(page, text) {
    await page.bringToFront();
    await page.type('#text', text);
    await page.click('#send');
}

const said = (page) => page.evaluate(() => window.demo.said);
const status = (page) => page.$eval('#status', (e) => e.textContent);

async function until(cond, what, ms = 5000) {
    const end = Date.now() + ms;

    while (!(await cond())) {
        if (Date.now() > end) {
            throw new Error('timed out waiting for ' + what);
        }
        await sleep(25);
    }
}

async function chat(a, b) {
    const n = (await said(a)).length;

    await say(a, 'hello from ' + await a.evaluate(() => window.demo.user));
    await until(async () => (await said(b)).length === n + 1, 'b hears');
    await say(b, 'hi back');
    await until(async () => (await said(a)).length === n + 2, 'a hears');
    await until(async () => (await said(b)).length === n + 2, 'b sees its');
    assert.deepEqual(await said(a), await said(b));
    assert.equal(await b.$eval('#text', (e) => e.value), '', 'sent');
}

// a goes offline, b says three things, a comes back with exactly those
async function away(a, b) {
    const before = (await said(a)).length;

    await a.setOfflineMode(true);
    await until(async () => (await status(a)) === 'no network: waiting',
                'a waits for the network');
    for (const text of ['are you there?', 'one', 'two']) {
        await say(b, text);
    }
    await until(async () => (await said(b)).length === before + 3,
                'b sends 3');
    await sleep(500);
    assert.equal((await said(a)).length, before, 'nothing while offline');

    await a.setOfflineMode(false);
    await until(async () => (await status(a)) === 'online', 'a is back',
                15000);
    await until(async () => (await said(a)).length === before + 3,
                'a catches up');
    await sleep(300);

    const got = await said(a);
    const ids = got.map((m) => m.id);

    assert.deepEqual(got, await said(b));
    assert.equal(new Set(ids).size, ids.length, 'no duplicates');
    assert.deepEqual(got.slice(-3).map((m) => m.text),
                     ['are you there?', 'one', 'two']);
    assert.deepEqual(await a.$$eval('#log .gap', (els) => els.length), 0,
                     'no gap');
    assert.equal(await a.$$eval('#log .msg', (els) => els.length),
                 got.length, 'each message shown once');
}

const log = () => fs.readFileSync(path.join(front, 'logs/access.log'),
                                  'utf8');

test('upgrades refused with 403: EventSource and POST, offline and back',
     { timeout: 60000 }, async () => {
    const alice = await open(refusing, 'r1', 'alice', 'eventsource');
    const bob = await open(refusing, 'r1', 'bob', 'eventsource');

    assert.match(log(), /"GET \/rooms\?room=r1&user=alice[^"]*" 403 /);
    assert.equal(await alice.$eval('#transport', (e) => e.textContent),
                 'over eventsource');
    await chat(alice, bob);
    await away(alice, bob);
    assert.match(await alice.evaluate(() => window.demo.client.socket.url),
                 /\/events\?room=r1&user=alice&last_id=\d+$/);
    assert.match(log(), /"POST \/say\?room=r1&user=bob HTTP\/1.1" 204 /);
    assert.deepEqual([...alice.errors, ...bob.errors], []);
    await alice.close();
    await bob.close();
});

test('Upgrade stripped: EventSource, with a WebSocket page in the room',
     { timeout: 60000 }, async () => {
    const carol = await open(stripping, 'r2', 'carol', 'eventsource');
    const dave = await open(direct, 'r2', 'dave', 'websocket');

    await chat(carol, dave);
    await chat(dave, carol);
    assert.deepEqual([...carol.errors, ...dave.errors], []);
    await carol.close();
    await dave.close();
});

test('only long-polling gets through: chat, offline and back',
     { timeout: 60000 }, async () => {
    const erin = await open(pollOnly, 'r3', 'erin', 'longpoll');
    const frank = await open(direct, 'r3', 'frank', 'websocket');

    assert.match(log(), /"GET \/events\?room=r3&user=erin[^"]*" 403 /);
    await chat(erin, frank);
    await away(erin, frank);
    await chat(erin, frank);
    assert.deepEqual([...erin.errors, ...frank.errors], []);
    await erin.close();
    await frank.close();
});
