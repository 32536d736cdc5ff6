// Against the module: message ids carry their channel's epoch, so a client
// that resumes after a server restart, with an id of the channel as it was,
// is told history_lost and reports the gap, even when the channel made anew
// has already gone past that id's place; it then takes the new ids as they
// come (large integers, still exact JavaScript numbers).

import test, { before, after } from 'node:test';
import assert from 'node:assert/strict';

import { WsClient } from '../ws-client.js';
import { Nginx, Proxy, WebSocket, until, next, TIMEOUT, track,
         closeClients, sleep } from '../testlib/harness.js';

const SLOT = 8;

const nginx = new Nginx(SLOT, {
    zone: 'ws_zone js 1m history=16;',
    locations: `
        location /room {
            websocket;
            ws_subscribe js room:$arg_room;
            ws_envelope on;
        }`
});
const proxy = new Proxy(SLOT, nginx.port);

before(async () => {
    await nginx.start();
    await proxy.up();
});

after(async () => {
    closeClients();
    await proxy.down();
    await nginx.stop();
});

async function subscribers(channel, n) {
    for (let i = 0; ; i++) {
        const r = await fetch(`http://127.0.0.1:${nginx.port}/pub?channel=`
                              + encodeURIComponent(channel));
        const j = r.status === 200 ? await r.json() : { subscribers: 0 };

        if (j.subscribers === n) {
            return;
        }
        assert.ok(i < 250, `${channel}: ${j.subscribers} subscribers, not ${n}`);
        await sleep(20);
    }
}

test('a restart while away: history_lost with the new first id, then the '
     + 'new messages, none taken as following the old id',
     TIMEOUT, async () => {
    const c = track(new WsClient(proxy.url('/room?room=r'), {
        WebSocket, backoff: { base: 50, max: 200 }
    }));
    const got = { messages: [], gaps: [] };

    c.on('message', (m) => got.messages.push([m.id, m.data]));
    c.on('gap', (g) => got.gaps.push(g));

    await next(c, 'open');
    await subscribers('room:r', 1);

    const old = [];

    for (const m of ['a', 'b']) {
        old.push((await nginx.publish('room:r', m)).id);
    }
    await until(() => got.messages.length === 2, 15000, '2 messages');

    await proxy.down();                     // the client is away ...
    await until(() => c.state === 'waiting', 15000, 'the close');
    await nginx.stop();                     // ... while nginx restarts
    await nginx.start();

    // the channel made anew goes past where the old ids were counted from
    const fresh = [];

    for (let i = 1; i <= 5; i++) {
        fresh.push((await nginx.publish('room:r', 'n' + i)).id);
    }

    assert.ok(Number.isSafeInteger(fresh[4]), `${fresh[4]} is exact`);
    assert.ok(fresh[0] > old[1], `the new ids (${fresh[0]}...) come after `
              + `the old ones (...${old[1]})`);
    assert.deepEqual(fresh, [0, 1, 2, 3, 4].map((i) => fresh[0] + i));

    await proxy.up();
    await until(() => got.messages.length === 7, 15000, 'the new history');
    await subscribers('room:r', 1);

    const live = (await nginx.publish('room:r', 'live')).id;
    await until(() => got.messages.length === 8, 15000, 'a live message');
    await sleep(100);                       // nothing more comes

    assert.deepEqual(got.gaps, [{ channel: 'room:r', lastId: old[1],
                                  firstId: fresh[0],
                                  reason: 'history_lost' }]);
    assert.deepEqual(got.messages,
                     [[old[0], 'a'], [old[1], 'b'],
                      ...fresh.map((id, i) => [id, 'n' + (i + 1)]),
                      [live, 'live']]);
    assert.deepEqual(c.lastIds, { 'room:r': live });
    c.close();
});
