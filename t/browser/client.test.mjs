// The client (clients/js/ws-client.js) in a real browser (headless
// Chromium through puppeteer-core) against nginx with the module: a device
// that goes offline for 30 s (DevTools network emulation) makes no
// connection attempt and resumes once when back; a hidden page whose timers
// run once a "minute" (Chromium's intensive throttling, emulated with a
// short minute) and that is frozen for a while is not taken for dead while
// the server keeps its connection alive, and misses nothing; a producer
// that awaits sendAsync() against a server that reads slowly keeps what
// waits bounded; two views of a page share one socket.  Run by
// t/097-js-client-browser.t; nginx on the server port + 25 (slot 5 of
// clients/js/testlib/harness.js) and its app on + 27.

import test, { before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { Nginx, startApp, ports, sleep }
    from '../../clients/js/testlib/harness.js';

const top = path.resolve(path.dirname(fileURLToPath(import.meta.url)),
                         '../..');
const puppeteer = createRequire(path.join(top, 'build/npm/'))
                  ('puppeteer-core');

const SLOT = 5;
const PERIOD = 60000;           // ms: a throttled page's timers, at most
                                // once a minute as in Chromium
const HWM = 262144;             // bytes: the producer's highWaterMark
const CHUNK = 65536;            // bytes: one message of the producer

const nginx = new Nginx(SLOT, {
    zone: 'ws_zone js 4m history=64;',
    http: `upstream app { server 127.0.0.1:${ports(SLOT).app};
                          keepalive 4; }`,
    locations: `
        location = /blank {
            default_type text/html;
            return 200 '<!doctype html><title>client</title>';
        }
        location /js/ {
            alias ${top}/clients/js/;
            types { text/javascript js; }
        }
        location = /status {
            ws_status;
        }
        location /ch {
            websocket;
            ws_subscribe js $arg_ch;
            ws_envelope on;
            ws_echo on;
            ws_ping_interval 1s;
            ws_pong_timeout 2s;
        }
        location /slow {
            websocket;
            ws_echo on;
            ws_limit_bytes rate=2m/s burst=64k;
            ws_limit_action delay;
        }
        location /views {
            websocket;
            ws_envelope on;
            ws_push js;
            ws_pass /app;
        }
        location = /app {
            internal;
            proxy_pass http://app/events;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }`
});
const origin = `http://127.0.0.1:${nginx.port}`;
const wsUrl = (p) => `ws://127.0.0.1:${nginx.port}${p}`;

let browser, app;

before(async () => {
    app = await startApp(SLOT);
    await nginx.start();
    browser = await puppeteer.launch({
        executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
        headless: true,
        dumpio: !!process.env.DEMO_DUMPIO,
        args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage']
    });
});

after(async () => {
    if (browser) {
        await browser.close();
    }
    await nginx.stop();
    await app.close();
});

// A page of the server with the client loaded (window.C) and every
// WebSocket it creates counted (window.wsMade) and every text it sends
// (window.wsSent).

async function open() {
    const page = await browser.newPage();

    page.errors = [];
    page.on('pageerror', (e) => page.errors.push(String(e)));
    await page.evaluateOnNewDocument(() => {
        const Real = window.WebSocket;

        window.wsMade = [];
        window.wsSent = [];
        window.WebSocket = class extends Real {
            constructor(...args) {
                super(...args);
                window.wsMade.push(args[0]);
            }

            send(d) {
                if (typeof d === 'string' && d.length < 100) {
                    window.wsSent.push([performance.now(), d]);
                }
                super.send(d);
            }
        };
    });
    await page.goto(origin + '/blank');
    await page.evaluate(async () => {
        window.C = await import('/js/ws-client.js');
    });
    page.cdp = await page.createCDPSession();
    return page;
}

async function until(cond, what, ms = 10000) {
    const end = Date.now() + ms;

    while (!(await cond())) {
        if (Date.now() > end) {
            throw new Error('timed out waiting for ' + what);
        }
        await sleep(25);
    }
}

const status = async () => (await fetch(origin + '/status')).json();
const accepted = async () => (await status()).total.connections_total;

// A client in the page (window.client) whose messages and events are
// recorded (window.got, window.log).

async function client(page, url, options = {}) {
    await page.evaluate((url, options) => {
        window.got = [];
        window.log = [];
        window.client = new window.C.WsClient(url, options);
        window.client.on('message', (m) => window.got.push(
            [m.channel, m.id, m.data]));

        for (const t of ['open', 'close', 'reconnecting', 'offline',
                         'online', 'gap', 'error'])
        {
            window.client.on(t, () => window.log.push(t));
        }
    }, url, options);
    await until(() => page.evaluate(() => window.client.state === 'open'),
                'the client is open');
}

const got = (page) => page.evaluate(() => window.got);
const log = (page) => page.evaluate(() => window.log);
const made = (page) => page.evaluate(() => window.wsMade.length);

function offline(page, on) {
    return page.cdp.send('Network.emulateNetworkConditions', {
        offline: on, latency: 0, downloadThroughput: -1, uploadThroughput: -1
    });
}

test('offline for 30 s: no attempt, one resume when online, nothing lost',
     { timeout: 90000 }, async () => {
    const page = await open();

    await page.cdp.send('Network.enable');
    await client(page, wsUrl('/ch?ch=off'),
                 { backoff: { base: 100, max: 400 }, onlineJitter: 300 });
    // ids carry the channel's epoch: they count from the first one
    const { id: first } = await nginx.publish('off', 'm1');
    await nginx.publish('off', 'm2');
    await until(async () => (await got(page)).length === 2, 'm1, m2');

    const before = await accepted();

    await offline(page, true);
    // a lost network takes the socket along; the emulation may not
    await page.evaluate(() => window.client.socket
                              && window.client.socket.close());
    await until(() => page.evaluate(() => window.client.state === 'waiting'
                                          && !window.client.online),
                'the client waits for the network');

    for (const m of ['m3', 'm4', 'm5']) {
        await nginx.publish('off', m);
    }

    await sleep(30000);
    assert.equal(await made(page), 1, 'no connection attempt in 30 s');
    assert.equal(await accepted(), before, 'none reached the server');
    assert.deepEqual(await log(page), ['open', 'close', 'offline']);

    await offline(page, false);
    await until(() => page.evaluate(() => window.client.state === 'open'),
                'open again');
    await until(async () => (await got(page)).length === 5, 'm3-m5');
    await sleep(500);
    assert.equal(await made(page), 2, 'one attempt when online');
    assert.equal(await accepted(), before + 1, 'one connection accepted');
    assert.deepEqual(await log(page), ['open', 'close', 'offline', 'online',
                                       'reconnecting', 'open']);
    assert.match(await page.evaluate(() => window.client.socket.url),
                 new RegExp(`[?&]last_id=${first + 1}$`));
    assert.deepEqual(await got(page), [1, 2, 3, 4, 5].map(
        (i) => ['off', first + i - 1, 'm' + i]), 'each once, in order');
    assert.deepEqual(page.errors, []);
    await page.close();
});

test('a hidden, throttled, then frozen page keeps its connection',
     { timeout: 360000 }, async () => {
    const page = await open();

    // Chromium's intensive throttling, emulated: while the page is hidden
    // a timer runs at the next whole PERIOD at the earliest (Chromium:
    // the next whole minute); the fires are recorded.
    await page.evaluate((period) => {
        window.fired = [];
        window.throttled = {
            setTimeout: (f, ms) => {
                let wait = ms;

                if (document.visibilityState === 'hidden') {
                    const now = performance.now();

                    wait = Math.ceil((now + ms) / period) * period - now;
                }

                return setTimeout(() => {
                    window.fired.push([performance.now(),
                                       document.visibilityState]);
                    f();
                }, wait);
            },
            clearTimeout: (t) => clearTimeout(t)
        };
    }, PERIOD);
    await page.evaluate((url) => {
        window.got = [];
        window.log = [];
        window.client = new window.C.WsClient(url, {
            timers: window.throttled,
            heartbeat: { interval: 1000 }   // dead after 2 s of silence
        });
        window.client.on('message', (m) => window.got.push(
            [m.channel, m.id, m.data]));

        for (const t of ['open', 'close', 'reconnecting', 'gap', 'error']) {
            window.client.on(t, (ev) => window.log.push(
                t + (ev.dead ? ' dead' : '')));
        }
    }, wsUrl('/ch?ch=bg'));
    await until(() => page.evaluate(() => window.client.state === 'open'),
                'the client is open');

    const before = await accepted();
    let n = 0;
    let first;
    const publish = async () => {
        const { id } = await nginx.publish('bg', 'b' + ++n);

        first ??= id;                       // ids carry the channel's epoch
    };
    const now = () => page.evaluate(() => performance.now());
    // sleeps until the page's clock is "at" into a period
    const phase = async (at) => sleep((PERIOD + at - (await now()) % PERIOD)
                                      % PERIOD);
    const sentSince = (t) => page.evaluate((t) => window.wsSent.filter(
        (s) => s[0] > t).length, t);

    await publish();

    // another tab in front: this one is hidden
    const front = await browser.newPage();

    await front.bringToFront();
    await until(() => page.evaluate(() => document.visibilityState
                                          === 'hidden'), 'hidden');

    const hiddenAt = await now();

    // 3 minutes hidden; a message a minute, 15 s after the timers ran:
    // when they run again, 45 s have passed without anything received
    // (the server's pings are answered by the browser, unseen), far more
    // than the 2 s after which a connection is dead
    for (let i = 0; i < 3; i++) {
        await phase(PERIOD / 4);
        await publish();
    }

    await phase(PERIOD * 3 / 4);

    const fired = await page.evaluate((t) => window.fired.filter(
        (f) => f[0] > t && f[1] === 'hidden').length, hiddenAt);

    // the emulation held the timers back: one fire a period
    assert.ok(fired >= 2 && fired <= 4, 'timers fired ' + fired
              + ' times in 3 periods');
    assert.deepEqual(await log(page), ['open'], 'not closed as dead');
    assert.ok(await sentSince(hiddenAt) >= 2, 'a heartbeat a period');
    assert.equal(await made(page), 1);

    // visible again: checked at once (a heartbeat goes out)
    const visibleAt = await now();

    await page.bringToFront();
    await until(() => page.evaluate(() => document.visibilityState
                                          === 'visible'), 'visible');
    await until(async () => (await sentSince(visibleAt)) === 1,
                'a heartbeat on return', 500);
    await publish();
    await until(async () => (await got(page)).length === n, 'every message');
    await sleep(2500);                      // past the 2 s idleTimeout

    assert.deepEqual(await log(page), ['open'], 'still the one connection');
    assert.equal(await made(page), 1);
    assert.equal(await accepted(), before, 'no reconnect reached nginx');
    assert.deepEqual(await got(page), Array.from(
        { length: n }, (_, i) => ['bg', first + i, 'b' + (i + 1)]),
        'each message once, in order');

    // hidden and frozen (no task of the page runs: its clock jumps) while
    // messages are published.  Chromium drops the socket of a page that
    // was frozen (an error, then 1006, when it is unfrozen): the client
    // must not take it for dead, and resumes it once with nothing lost.
    await front.bringToFront();
    await page.cdp.send('Page.setWebLifecycleState', { state: 'frozen' });

    for (let i = 0; i < 3; i++) {
        await sleep(2000);
        await publish();
    }

    await page.cdp.send('Page.setWebLifecycleState', { state: 'active' });
    await page.bringToFront();
    await until(() => page.evaluate(() => window.client.state === 'open'),
                'open after the freeze');
    await until(async () => (await got(page)).length >= n,
                'the messages of the freeze');
    await sleep(2500);

    const after = await log(page);

    assert.ok(!after.some((t) => / dead$/.test(t)), 'never dead: ' + after);
    assert.ok(after.length === 1 || (after.length === 5
              && after.slice(-3).join() === 'close,reconnecting,open'),
              'kept, or dropped by the browser and resumed once: ' + after);
    assert.equal(await accepted(), before + (after.length === 1 ? 0 : 1));

    if (after.length > 1) {
        assert.match(await page.evaluate(() => window.client.socket.url),
                     /[?&]last_id=\d+$/);
    }

    assert.deepEqual(await got(page), Array.from(
        { length: n }, (_, i) => ['bg', first + i, 'b' + (i + 1)]),
        'each message once, in order');
    assert.equal((await status()).total.connections, 1);
    assert.deepEqual(page.errors, []);
    await front.close();
    await page.close();
});

test('a producer awaiting sendAsync() stays bounded on a slow server',
     { timeout: 90000 }, async () => {
    const page = await open();

    // what waits when a producer does not wait: all it sent
    const naive = await page.evaluate(async (url, chunk) => {
        const c = new window.C.WsClient(url);

        await new Promise((r) => c.once('open', r));

        const data = 'x'.repeat(chunk);

        for (let i = 0; i < 128; i++) {
            c.send(data);
        }

        const waiting = c.bufferedAmount;

        c.close();
        return waiting;
    }, wsUrl('/slow'), CHUNK);

    assert.ok(naive > 4 * 1048576, 'send() without waiting: ' + naive);

    await client(page, wsUrl('/slow'), { highWaterMark: HWM });
    await page.cdp.send('HeapProfiler.collectGarbage');

    const heap0 = (await page.cdp.send('Runtime.getHeapUsage')).usedSize;
    const r = await page.evaluate(async (chunk) => {
        const c = window.client;
        const t0 = performance.now();
        let peak = 0;

        window.echoed = [];
        c.on('message', (m) => window.echoed.push(m.data.slice(0, 8)));

        for (let i = 0; i < 256; i++) {     // 16 MB
            const msg = String(i).padStart(8, '0')
                        + 'x'.repeat(chunk - 8);
            const p = c.sendAsync(msg);

            peak = Math.max(peak, c.bufferedAmount);
            await p;
        }

        return { peak, ms: performance.now() - t0 };
    }, CHUNK);

    await until(() => page.evaluate(() => window.echoed.length === 256),
                'every message echoed', 30000);
    await page.evaluate(() => { window.got = []; window.echoed = null; });
    await page.cdp.send('HeapProfiler.collectGarbage');

    const heap1 = (await page.cdp.send('Runtime.getHeapUsage')).usedSize;

    assert.ok(r.peak <= HWM + CHUNK, 'at most highWaterMark + one message '
              + 'waited: ' + r.peak);
    assert.ok(r.ms > 2000, 'the server was slow: ' + Math.round(r.ms)
              + ' ms for 16 MB at 2 MB/s');
    assert.ok(heap1 - heap0 < 4 * 1048576, 'the JS heap grew by '
              + (heap1 - heap0) + ' bytes');
    assert.match(nginx.errorLog(), /exceeded ws_limit_bytes, delaying/);
    assert.deepEqual(page.errors, []);
    await page.close();
});

test('two views of a page share one socket; one leaves, the other stays',
     { timeout: 60000 }, async () => {
    const page = await open();
    const subscribers = async () => (await status()).zones
        .find((z) => z.name === 'js').subscribers;

    await page.evaluate((url) => {
        window.client = new window.C.WsClient(url);
    }, wsUrl('/views'));
    await until(() => page.evaluate(() => window.client.state === 'open'),
                'the client is open');

    // what the connection holds of its own (its id's channel)
    const base = await subscribers();

    await page.evaluate(() => {
        const c = window.client;

        window.seen = { a: [], b: [], client: [] };
        window.a = c.view();
        window.b = c.view();
        window.a.on('message', (m) => window.seen.a.push(m.data));
        window.b.on('message', (m) => window.seen.b.push(m.data));
        c.on('message', (m) => window.seen.client.push(m.data));
        window.a.subscribe('news');
        window.a.subscribe('sport');
        window.b.subscribe('news');
    });
    await until(async () => (await subscribers()) === base + 2,
                'news and sport subscribed');

    const seen = () => page.evaluate(() => window.seen);

    await nginx.publish('news', 'n1');
    await nginx.publish('sport', 's1');
    await until(async () => (await seen()).client.length === 2, 'n1, s1');
    await sleep(100);
    assert.deepEqual(await seen(), { a: ['n1', 's1'], b: ['n1'],
                                     client: ['n1', 's1'] });

    // a leaves news: b still holds it, no command goes
    await page.evaluate(() => window.a.unsubscribe('news'));
    await nginx.publish('news', 'n2');
    await until(async () => (await seen()).b.length === 2, 'b gets n2');
    assert.deepEqual((await seen()).a, ['n1', 's1']);
    assert.equal(await subscribers(), base + 2);

    // b goes: news is left on the server; sport stays for a
    await page.evaluate(() => window.b.close());
    await until(async () => (await subscribers()) === base + 1,
                'news left');
    await nginx.publish('news', 'n3');
    await nginx.publish('sport', 's2');
    await until(async () => (await seen()).a.length === 3, 'a gets s2');
    assert.deepEqual(await seen(), { a: ['n1', 's1', 's2'], b: ['n1', 'n2'],
                                     client: ['n1', 's1', 'n2', 's2'] });
    assert.equal(await made(page), 1, 'one socket');
    assert.deepEqual(await page.evaluate(() => window.wsSent.map((s) => s[1])),
                     ['news', 'sport', 'news'].map((ch, i) => JSON.stringify(
                         { type: i < 2 ? 'subscribe' : 'unsubscribe',
                           channel: ch })));
    assert.deepEqual(page.errors, []);
    await page.close();
});
