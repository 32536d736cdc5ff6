// Against the module: reconnecting through a proxy that goes away,
// resuming without gaps or duplicates, history_lost when too much was
// missed, and a server restart.

import test, { before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';

import { WsClient } from '../ws-client.js';
import { Nginx, Proxy, WebSocket, until, next, TIMEOUT, track,
         closeClients } from '../testlib/harness.js';

const SLOT = 0;

const nginx = new Nginx(SLOT, {
    zone: 'ws_zone js 1m history=8;',
    locations: `
        location /room {
            websocket;
            ws_subscribe js room:$arg_room;
            ws_envelope on;
        }
        location /two {
            websocket;
            ws_subscribe js room:$arg_room ticker;
            ws_envelope on;
        }`
});
const proxy = new Proxy(SLOT, nginx.port);

before(async () => {
    await nginx.start();
    await proxy.up();
});

// a test that failed half way leaves the proxy and nginx as the next one
// expects
beforeEach(async () => {
    if (proxy.server === null) {
        await proxy.up();
    }

    if (nginx.proc === null) {
        await nginx.start();
    }
});

after(async () => {
    closeClients();
    await proxy.down();
    await nginx.stop();
});

function client(path, options = {}) {
    const c = track(new WsClient(proxy.url(path), {
        WebSocket, backoff: { base: 50, max: 200 }, ...options
    }));
    const got = { messages: [], gaps: [], opens: [], closes: [] };

    c.on('message', (m) => got.messages.push(m));
    c.on('gap', (g) => got.gaps.push(g));
    c.on('open', (o) => got.opens.push(o.url));
    c.on('close', (e) => got.closes.push(e));
    return { c, got };
}

async function subscribers(channel, n) {
    const end = Date.now() + 5000;

    for (;;) {
        const r = await fetch(`http://127.0.0.1:${nginx.port}/pub?channel=`
                              + encodeURIComponent(channel));
        const j = r.status === 200 ? await r.json() : { subscribers: 0 };

        if (j.subscribers === n) {
            return;
        }
        if (Date.now() > end) {
            throw new Error(`${channel}: ${j.subscribers} subscribers, `
                            + `not ${n}`);
        }
        await new Promise((res) => setTimeout(res, 20));
    }
}

test('resume after the connection is lost: nothing missed, nothing twice',
     TIMEOUT, async () => {
    const { c, got } = client('/room?room=a');

    await next(c, 'open');
    await subscribers('room:a', 1);

    // ids carry the channel's epoch: the first is base + 1
    const base = (await nginx.publish('room:a', 'm1')).id - 1;

    for (let i = 2; i <= 3; i++) {
        await nginx.publish('room:a', 'm' + i);
    }
    await until(() => got.messages.length === 3, 15000, '3 messages');

    await proxy.down();                     // the network goes away
    await until(() => c.state === 'waiting', 15000, 'the close');
    await subscribers('room:a', 0);

    for (let i = 4; i <= 6; i++) {          // published while away
        await nginx.publish('room:a', 'm' + i);
    }

    await proxy.up();
    await next(c, 'open');
    await nginx.publish('room:a', 'm7');
    await until(() => got.messages.length >= 7, 15000, '7 messages');
    await new Promise((r) => setTimeout(r, 100));   // nothing more comes

    assert.deepEqual(got.messages.map((m) => [m.channel, m.id, m.data]),
                     [1, 2, 3, 4, 5, 6, 7].map((i) => ['room:a', base + i,
                                                      'm' + i]));
    assert.deepEqual(got.gaps, []);
    assert.equal(got.opens.length, 2);
    assert.match(got.opens[0], /\?room=a$/);
    assert.match(got.opens[1], new RegExp(`\\?room=a&last_id=${base + 3}$`));
    assert.equal(got.closes[0].willReconnect, true);
    assert.deepEqual(c.lastIds, { 'room:a': base + 7 });
    c.close();
});

test('too much missed: history_lost is a gap, then what is left',
     TIMEOUT, async () => {
    const { c, got } = client('/room?room=b');

    await next(c, 'open');
    await subscribers('room:b', 1);
    const base = (await nginx.publish('room:b', 'first')).id - 1;
    await until(() => got.messages.length === 1, 15000, 'a message');

    await proxy.down();
    await subscribers('room:b', 0);

    for (let i = 2; i <= 13; i++) {         // history=8 keeps 6 ... 13
        await nginx.publish('room:b', 'm' + i);
    }

    await proxy.up();
    await until(() => got.messages.length === 9, 15000, 'the replay');

    assert.deepEqual(got.gaps, [{ channel: 'room:b', lastId: base + 1,
                                  firstId: base + 6,
                                  reason: 'history_lost' }]);
    assert.deepEqual(got.messages.slice(1).map((m) => m.id - base),
                     [6, 7, 8, 9, 10, 11, 12, 13]);
    c.close();
});

test('a server restart: reconnect, and the reset channel is a gap',
     TIMEOUT, async () => {
    const { c, got } = client('/room?room=c');

    await next(c, 'open');
    await subscribers('room:c', 1);
    const x = (await nginx.publish('room:c', 'x')).id;
    await nginx.publish('room:c', 'y');
    await until(() => got.messages.length === 2, 15000, '2 messages');

    await nginx.stop();                     // QUIT: a Close 1001

    try {
        // the reconnect attempts that fail while nginx is down add closes
        // of their own, maybe before stop() returns (a slow exit, as
        // under ASan): the first close is the one that counts
        await until(() => got.closes.length >= 1, 15000, 'the close');
    } finally {
        await nginx.start();                // the zone starts empty
    }

    assert.equal(got.closes[0].code, 1001);
    assert.equal(got.closes[0].willReconnect, true);
    await until(() => got.opens.length === 2, 15000, 'the reconnect');
    assert.match(got.opens[1], new RegExp(`last_id=${x + 1}$`));
    await subscribers('room:c', 1);
    const after = (await nginx.publish('room:c', 'after')).id;
    await until(() => got.messages.length === 3, 15000, 'a new message');

    // the channel made anew has ids of a later epoch
    assert.ok(after > x + 1, `${after} follows ${x + 1}`);
    assert.deepEqual(got.gaps, [{ channel: 'room:c', lastId: x + 1,
                                  firstId: after, reason: 'history_lost' }]);
    assert.deepEqual(got.messages.map((m) => [m.id, m.data]),
                     [[x, 'x'], [x + 1, 'y'], [after, 'after']]);
    c.close();
});

test('two channels on one connection keep their own ids',
     TIMEOUT, async () => {
    const { c, got } = client('/two?room=d');

    await next(c, 'open');
    await subscribers('ticker', 1);
    const base = (await nginx.publish('room:d', 'r1')).id - 1;
    await nginx.publish('ticker', 't');
    await nginx.publish('room:d', 'r2');
    await until(() => got.messages.length === 3, 15000, '3 messages');

    const ticker = c.lastIds.ticker;

    assert.deepEqual(c.lastIds, { 'room:d': base + 2, ticker });
    assert.deepEqual(got.messages.map((m) => [m.channel, m.data]),
                     [['room:d', 'r1'], ['ticker', 't'], ['room:d', 'r2']]);
    c.close();
});

test('two channels resume each from its own id (last_id=NAME=N,...)',
     TIMEOUT, async () => {
    const { c, got } = client('/two?room=e');

    await next(c, 'open');
    await subscribers('room:e', 1);
    const base = (await nginx.publish('room:e', 'e1')).id - 1;
    await nginx.publish('ticker', 't1');
    await nginx.publish('room:e', 'e2');
    await until(() => got.messages.length === 3, 15000, '3 messages');

    const tick = c.lastIds.ticker;

    await proxy.down();
    await subscribers('room:e', 0);
    await nginx.publish('ticker', 't2');    // ids differ per channel: a
    await nginx.publish('ticker', 't3');    // plain N would lose or repeat
    await nginx.publish('room:e', 'e3');

    await proxy.up();
    await until(() => got.messages.length === 6, 15000, 'the replay');
    await new Promise((r) => setTimeout(r, 100));

    assert.equal(got.opens[1].slice(got.opens[1].indexOf('?')),
                 `?room=e&last_id=room%3Ae=${base + 2},ticker=${tick}`);
    assert.deepEqual(got.messages.slice(3).map((m) => [m.channel, m.id,
                                                       m.data]).sort(),
                     [['room:e', base + 3, 'e3'], ['ticker', tick + 1, 't2'],
                      ['ticker', tick + 2, 't3']]);
    assert.equal(got.messages.length, 6);
    assert.deepEqual(got.gaps, []);
    assert.deepEqual(c.lastIds, { 'room:e': base + 3, ticker: tick + 2 });
    c.close();
});
