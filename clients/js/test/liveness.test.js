// Against the module: a connection that goes silent is noticed, the
// heartbeat keeps a quiet one alive, retries follow the backoff, the send
// queue holds what is sent while away (within its bound), and runtime
// subscriptions through a ws_pass app survive a reconnect.

import test, { before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';

import { WsClient } from '../ws-client.js';
import { Nginx, Proxy, WebSocket, until, next, TIMEOUT, track,
         closeClients, sleep,
         startApp, ports } from '../testlib/harness.js';

const SLOT = 1;

const nginx = new Nginx(SLOT, {
    http: `upstream app { server 127.0.0.1:${ports(SLOT).app}; keepalive 4; }`,
    locations: `
        location /echo {
            websocket;
            ws_echo on;
        }
        location /cmd {
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
const proxy = new Proxy(SLOT, nginx.port);
let app;

before(async () => {
    app = await startApp(SLOT);
    await nginx.start();
    await proxy.up();
});

// a test that failed half way leaves the proxy as the next one expects
beforeEach(async () => {
    proxy.blackhole(false);

    if (proxy.server === null) {
        await proxy.up();
    }
});

after(async () => {
    closeClients();
    await proxy.down();
    await nginx.stop();
    await app.close();
});

test('the heartbeat keeps a quiet connection; a silent one is dead',
     TIMEOUT, async () => {
    const c = track(new WsClient(proxy.url('/echo'), {
        WebSocket, heartbeat: { interval: 100 }, idleTimeout: 350,
        backoff: { base: 50, max: 50 }
    }));
    const closes = [];
    const messages = [];

    c.on('close', (e) => closes.push(e));
    c.on('message', (m) => messages.push(m.data));
    await next(c, 'open');
    await sleep(800);                       // 8 heartbeats, echoed
    assert.deepEqual(closes, [], 'no close while the echoes come back');
    assert.deepEqual(messages, [], 'the echoed heartbeats are hidden');

    const t0 = Date.now();

    proxy.blackhole();                      // open, but nothing goes through
    const dead = await next(c, 'close', 3000);
    const took = Date.now() - t0;

    assert.equal(dead.dead, true);
    assert.equal(dead.willReconnect, true);
    assert.ok(took >= 250 && took < 2500, `dead after ${took} ms`);

    proxy.blackhole(false);
    await next(c, 'open');
    c.send('still here');
    await until(() => messages.length === 1, 3000, 'the echo');
    assert.deepEqual(messages, ['still here']);
    c.close();
});

test('retries follow the backoff; the client gives up after maxAttempts',
     TIMEOUT, async () => {
    await proxy.down();                     // connections are refused

    const c = track(new WsClient(proxy.url('/echo'), {
        WebSocket, random: () => 1,
        backoff: { base: 60, factor: 2, max: 200, maxAttempts: 4 }
    }));
    const tries = [];
    const delays = [];
    let giveup = null;

    c.on('reconnecting', (r) => { delays.push(r.delay); });
    c.on('close', () => tries.push(Date.now()));
    c.on('giveup', (g) => { giveup = g; });
    await until(() => giveup !== null, 15000, 'giving up');

    assert.deepEqual(delays, [60, 120, 200, 200]);
    assert.deepEqual(giveup, { attempts: 4 });
    assert.equal(tries.length, 5);
    assert.equal(c.state, 'closed');

    for (let i = 1; i < tries.length; i++) {
        const gap = tries[i] - tries[i - 1];
        assert.ok(gap >= delays[i - 1] - 5 && gap < delays[i - 1] + 1000,
                  `attempt ${i}: ${gap} ms after the previous one, `
                  + `${delays[i - 1]} ms expected`);
    }

    await proxy.up();
});

test('the send queue: bounded while away, delivered in order after',
     TIMEOUT, async () => {
    const c = track(new WsClient(proxy.url('/echo'), {
        WebSocket, backoff: { base: 50, max: 50 },
        queue: { maxMessages: 3, maxBytes: 1024 }
    }));
    const messages = [];
    const errors = [];

    c.on('message', (m) => messages.push(m.data));
    c.on('error', (e) => {
        if (e.error.code !== 'socket') {        // the lost connection's
            errors.push(e.error);
        }
    });
    await next(c, 'open');

    await proxy.down();
    await until(() => c.state === 'waiting', 3000, 'the close');

    assert.equal(c.send('one'), true);
    assert.equal(c.send('two'), true);
    assert.equal(c.send(new Uint8Array([1, 2, 3])), true);
    assert.equal(c.send('four'), false);
    assert.equal(c.send('x'.repeat(2000)), false);
    assert.deepEqual(errors.map((e) => [e.code, e.data.length]),
                     [['queue_full', 4], ['queue_full', 2000]]);
    assert.deepEqual(c.queued, { messages: 3, bytes: 9 });

    await proxy.up();
    await until(() => messages.length === 3, 15000, '3 echoes');
    assert.deepEqual(messages.slice(0, 2), ['one', 'two']);
    assert.deepEqual([...new Uint8Array(messages[2])], [1, 2, 3]);
    c.close();
});

async function subscribers(channel) {
    const r = await fetch(`http://127.0.0.1:${nginx.port}/pub?channel=`
                          + encodeURIComponent(channel));

    return r.status === 200 ? (await r.json()).subscribers : 0;
}

test('subscribe and unsubscribe through the app, again after a reconnect',
     TIMEOUT, async () => {
    const c = track(new WsClient(proxy.url('/cmd'), {
        WebSocket, backoff: { base: 50, max: 50 },
        heartbeat: { interval: 1000, isReply: (d) => d === 'pong' }
    }));
    const messages = [];

    c.on('message', (m) => messages.push([m.channel, m.id, m.data]));
    c.subscribe('news');                    // sent once open
    await next(c, 'open');

    for (let i = 0; (await subscribers('news')) !== 1; i++) {
        assert.ok(i < 200, 'subscribed');
        await sleep(20);
    }

    const n1 = (await nginx.publish('news', 'n1')).id;
    await until(() => messages.length === 1, 3000, 'news 1');

    proxy.cut();                            // the app's subscription is gone
    await next(c, 'open');

    for (let i = 0; (await subscribers('news')) !== 1; i++) {
        assert.ok(i < 200, 'subscribed again');
        await sleep(20);
    }

    await nginx.publish('news', 'n2');
    await until(() => messages.length === 2, 3000, 'news 2');

    c.unsubscribe('news');

    for (let i = 0; (await subscribers('news')) !== 0; i++) {
        assert.ok(i < 200, 'unsubscribed');
        await sleep(20);
    }

    await nginx.publish('news', 'n3');
    await sleep(200);
    assert.deepEqual(messages, [['news', n1, 'n1'], ['news', n1 + 1, 'n2']]);
    assert.deepEqual(c.channels, []);
    c.close();
});
