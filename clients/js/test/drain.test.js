// Against the module: a reload during a steady publish.  The old worker
// closes with 1012 and "resume:NAME=ID" spread over ws_drain_window; the
// clients come back at once (restartJitter, not the backoff) and resume
// with nothing lost and nothing twice, also a client without the envelope,
// which sees no ids and resumes from the reason alone.

import test, { before, after } from 'node:test';
import assert from 'node:assert/strict';

import { WsClient } from '../ws-client.js';
import { Nginx, WebSocket, until, sleep, TIMEOUT, track,
         closeClients } from '../testlib/harness.js';

const SLOT = 2;

const nginx = new Nginx(SLOT, {
    zone: 'ws_zone js 4m history=4096;',
    locations: `
        location /feed {
            websocket;
            ws_subscribe js feed;
            ws_envelope on;
            ws_drain_window 400ms;
        }
        location /plain {
            websocket;
            ws_subscribe js feed;
            ws_drain_window 400ms;
        }`
});

before(async () => {
    await nginx.start();
});

after(async () => {
    closeClients();
    await nginx.stop();
});

function client(path) {
    // a backoff far longer than the test: only the 1012 path is quick
    const c = track(new WsClient(nginx.url(path), {
        WebSocket, backoff: { base: 60000, max: 60000 },
        restartJitter: 200
    }));
    const got = { data: [], ids: [], opens: [], closes: [], gaps: [] };

    c.on('message', (m) => {
        got.data.push(m.data);
        if (m.id !== undefined) {
            got.ids.push(m.id);
        }
    });
    c.on('gap', (g) => got.gaps.push(g));
    c.on('open', (o) => got.opens.push([Date.now(), o.url]));
    c.on('close', (e) => got.closes.push([Date.now(), e.code, e.reason]));
    return { c, got };
}

test('a reload during a steady publish: 1012, back at once, nothing lost '
     + 'or twice', TIMEOUT, async (t) => {
    const clients = [];

    for (let i = 0; i < 10; i++) {
        clients.push(client('/feed'));
    }
    for (let i = 0; i < 5; i++) {
        clients.push(client('/plain'));
    }

    await until(() => clients.every(({ got }) => got.opens.length === 1),
                5000, 'all open');

    // Publish until every client is back from the reload, then 30 more: a
    // count, not a clock, shapes the test, so that a busy machine only
    // makes it longer.
    let n = 0;
    let first;
    let more = -1;
    const deadline = Date.now() + 20000;

    while (more !== 0) {
        assert.ok(Date.now() < deadline, 'all back within 20 s');
        n++;
        const { id } = await nginx.publish('feed', 'm' + n);

        first ??= id;               // ids carry the channel's epoch

        if (n === 50) {
            process.kill(nginx.proc.pid, 'SIGHUP');
        }

        if (more > 0) {
            more--;
        } else if (n > 50
                   && clients.every(({ got }) => got.opens.length === 2))
        {
            more = 30;
        }

        await sleep(5);
    }

    await until(() => clients.every(({ got }) => got.data.length >= n),
                10000, `${n} messages each`);
    await sleep(100);                       // nothing more comes

    const want = Array.from({ length: n }, (_, i) => 'm' + (i + 1));
    let gap = 0;

    for (const [k, { c, got }] of clients.entries()) {
        const what = `client ${k} (${k < 10 ? 'envelope' : 'plain'})`;

        assert.equal(got.closes.length, 1, what + ': one close');
        assert.equal(got.closes[0][1], 1012, what + ': Close 1012');
        assert.match(got.closes[0][2], /^resume:feed=\d+$/, what);
        assert.equal(got.opens.length, 2, what + ': one reconnect');

        const wait = got.opens[1][0] - got.closes[0][0];
        gap = Math.max(gap, wait);
        // the backoff is a minute: only the 1012 path comes back this soon
        assert.ok(wait < 5000, `${what}: back within ${wait} ms`);

        const last = Number(got.closes[0][2].split('=')[1]);
        assert.match(got.opens[1][1], new RegExp(`last_id=${last}$`), what);

        assert.deepEqual(got.data, want, what + ': nothing lost or twice');
        assert.deepEqual(got.gaps, [], what + ': no gap');

        if (k < 10) {
            assert.deepEqual(got.ids, want.map((_, i) => first + i), what);
        }

        c.close();
    }

    t.diagnostic(`longest reconnect: ${gap} ms`);
});
