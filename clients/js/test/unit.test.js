// The client's logic without a network: a scripted WebSocket and a clock
// the test moves by hand (testlib/fake.js).

import test from 'node:test';
import assert from 'node:assert/strict';

import { WsClient, backoffDelay, lastIdValue, withArgument, parseEnvelope,
         parseHistoryLost, parseResumeReason, messageSize }
    from '../ws-client.js';

import { Clock, fakeSockets, setup } from '../testlib/fake.js';

test('backoff: full jitter under a ceiling that grows and is capped', () => {
    const b = { base: 100, max: 1000, factor: 2 };

    assert.deepEqual([0, 1, 2, 3, 4, 10].map((n) => backoffDelay(n, b,
                                                                 () => 1)),
                     [100, 200, 400, 800, 1000, 1000]);
    assert.equal(backoffDelay(3, b, () => 0), 0);
    assert.equal(backoffDelay(3, b, () => 0.5), 400);
    assert.equal(backoffDelay(0, {}, () => 1), 500);       // the defaults

    for (let i = 0; i < 1000; i++) {
        const d = backoffDelay(2, b);
        assert.ok(d >= 0 && d < 400, 'jittered delay in [0, 400): ' + d);
    }
});

test('last_id: plain for one channel, per channel for several', () => {
    assert.equal(lastIdValue(new Map()), null);
    assert.equal(lastIdValue(new Map([['room:42', 17]])), '17');
    assert.equal(lastIdValue(new Map([['room:42', 17], ['ticker', 5]])),
                 'room%3A42=17,ticker=5');
    assert.equal(lastIdValue(new Map([['a=b,c', 1], ['d', 2]])),
                 'a%3Db%2Cc=1,d=2');
    assert.equal(lastIdValue(new Map([['room:42', 17]]), 'channels'),
                 'room%3A42=17');
    assert.equal(lastIdValue(new Map([['a', 3], ['b', 9]]), 'plain'), '9');
});

test('URLs: last_id replaced, other arguments and the fragment kept', () => {
    assert.equal(withArgument('ws://h/x', 'last_id', '3'),
                 'ws://h/x?last_id=3');
    assert.equal(withArgument('ws://h/x?room=1&last_id=2&a', 'last_id', '3'),
                 'ws://h/x?room=1&a&last_id=3');
    assert.equal(withArgument('ws://h/x?last_id=2#f', 'last_id', null),
                 'ws://h/x#f');
    assert.equal(withArgument('ws://h/x?last_idx=2', 'last_id', '5'),
                 'ws://h/x?last_idx=2&last_id=5');
});

test('envelopes and history_lost are recognised strictly', () => {
    assert.deepEqual(parseEnvelope('{"channel":"r","id":3,"data":"x\\"y"}'),
                     { channel: 'r', id: 3, data: 'x"y' });
    assert.equal(parseEnvelope('{"channel":"r","id":3}'), null);
    assert.equal(parseEnvelope('{"channel":"r","id":3,"data":"x","z":1}'),
                 null);
    assert.equal(parseEnvelope('{"channel":"r","id":"3","data":"x"}'), null);
    assert.equal(parseEnvelope('{"channel":"r","id":3,"data":"x"'), null);
    assert.equal(parseEnvelope('hello'), null);
    assert.deepEqual(parseHistoryLost('{"event":"history_lost","channel":'
                                      + '"r","last_id":3,"first_id":9}'),
                     { event: 'history_lost', channel: 'r', last_id: 3,
                       first_id: 9 });
    assert.equal(parseHistoryLost('{"event":"history_lost"}'), null);
    assert.equal(messageSize('é€'), 5);
    assert.equal(messageSize(new Uint8Array(7)), 7);
    assert.equal(messageSize(new ArrayBuffer(3)), 3);
});

test('reconnects with growing delays, gives up after maxAttempts', () => {
    const { clock, made, events, types } = setup({
        backoff: { base: 100, max: 350, factor: 2, maxAttempts: 4 }
    });

    assert.equal(made.length, 1);
    made[0].drop();                         // the first connect fails

    const delays = [];

    for (let i = 1; i <= 4; i++) {
        const r = events.filter((e) => e[0] === 'reconnecting').pop()[1];

        assert.equal(r.attempt, i);
        delays.push(r.delay);
        clock.advance(r.delay - 1);
        assert.equal(made.length, i, 'not before the delay');
        clock.advance(1);
        assert.equal(made.length, i + 1, 'retried after the delay');
        made[i].drop();
    }

    assert.deepEqual(delays, [100, 200, 350, 350]);
    assert.equal(types().at(-1), 'giveup');
    assert.equal(events.at(-2)[1].willReconnect, false);
    clock.advance(100000);
    assert.equal(made.length, 5, 'no attempt after giving up');
});

test('failures count from 0 again after a connection that lasted', () => {
    const { clock, made, events, last } = setup({
        backoff: { base: 100, max: 10000, resetAfter: 1000 }
    });
    const delay = () => events.filter((e) => e[0] === 'reconnecting')
                              .pop()[1].delay;

    made[0].drop();
    clock.advance(delay());
    last().drop();
    assert.equal(delay(), 200);
    clock.advance(delay());
    last().open();
    clock.advance(500);
    last().drop();                          // open 0.5 s: still failing
    assert.equal(delay(), 400);
    clock.advance(delay());
    last().open();
    clock.advance(1000);
    last().drop();                          // open 1 s: a fresh start
    assert.equal(delay(), 100);
});

test('application close codes end the client; close() is final', () => {
    let s = setup();

    s.last().open();
    s.last().drop(4001, 'kicked');
    assert.deepEqual(s.types(), ['open', 'close']);
    assert.equal(s.events[1][1].willReconnect, false);
    assert.equal(s.c.state, 'closed');

    s = setup({ shouldReconnect: () => true });
    s.last().open();
    s.last().drop(4001, 'kicked');
    assert.equal(s.c.state, 'waiting');

    s = setup();
    s.last().open();
    s.c.close(1000, 'bye');
    assert.deepEqual(s.last().closed, { code: 1000, reason: 'bye' });
    assert.equal(s.c.state, 'closing');
    s.last().drop(1000, 'bye');
    assert.equal(s.c.state, 'closed');
    s.clock.advance(100000);
    assert.equal(s.made.length, 1);
});

test('the send queue is bounded and flushed in order on open', () => {
    const { c, made, events, last } = setup({
        queue: { maxMessages: 3, maxBytes: 10 }
    });
    const errors = () => events.filter((e) => e[0] === 'error')
                               .map((e) => e[1].error);

    assert.equal(c.send('aaaa'), true);
    assert.equal(c.send('bbbb'), true);
    assert.equal(c.send('ccc'), false);     // 11 bytes > 10
    assert.equal(errors()[0].code, 'queue_full');
    assert.equal(errors()[0].data, 'ccc');
    assert.equal(c.send('cc'), true);
    assert.equal(c.send('d'), false);       // a 4th message
    assert.equal(errors()[1].data, 'd');
    assert.deepEqual(c.queued, { messages: 3, bytes: 10 });

    last().open();
    assert.deepEqual(made[0].sent, ['aaaa', 'bbbb', 'cc']);
    assert.deepEqual(c.queued, { messages: 0, bytes: 0 });
    assert.equal(c.send('e'), true);
    assert.deepEqual(made[0].sent, ['aaaa', 'bbbb', 'cc', 'e']);
});

test('what is queued when the client closes is reported, not lost', () => {
    const { c, made, events } = setup();

    made[0].drop();
    c.send('x');
    c.send('y');
    c.close();

    const e = events.filter((ev) => ev[0] === 'error').pop()[1].error;

    assert.equal(e.code, 'not_sent');
    assert.deepEqual(e.messages, ['x', 'y']);
    assert.equal(c.send('z'), false);
});

test('ids are tracked per channel; last_id is sent on reconnect', () => {
    const { c, clock, made, events, last, types } = setup();

    last().open();
    last().message('{"channel":"room:42","id":5,"data":"a"}');
    assert.deepEqual(events.at(-1), ['message', {
        data: 'a', binary: false, channel: 'room:42', id: 5 }]);
    last().drop();
    clock.advance(1000);
    assert.equal(last().url, 'ws://h/rooms?room=42&last_id=5');

    last().open();
    last().message('{"channel":"room:42","id":6,"data":"b"}');
    last().message('{"channel":"ticker","id":2,"data":"t"}');
    last().message('{"channel":"room:42","id":9,"data":"c"}');  // skipped
    last().message('{"channel":"ticker","id":1,"data":"u"}');   // reset
    assert.deepEqual(types().slice(-6),
                     ['message', 'message', 'gap', 'message', 'gap',
                      'message']);
    assert.deepEqual(events.filter((e) => e[0] === 'gap').map((e) => e[1]), [
        { channel: 'room:42', lastId: 6, firstId: 9, reason: 'skipped' },
        { channel: 'ticker', lastId: 2, firstId: 1, reason: 'reset' }
    ]);
    assert.deepEqual(c.lastIds, { 'room:42': 9, ticker: 1 });

    last().drop();
    clock.advance(1000);
    assert.equal(made.length, 3);
    assert.equal(last().url,
                 'ws://h/rooms?room=42&last_id=room%3A42=9,ticker=1');
});

test('history_lost is a gap; the replay after it is not', () => {
    const { c, last, events } = setup({ lastIds: { r: 3 } });

    assert.equal(last().url, 'ws://h/rooms?room=42&last_id=3');
    last().open();
    last().message('{"event":"history_lost","channel":"r","last_id":3,'
                   + '"first_id":9}');
    last().message('{"channel":"r","id":9,"data":"x"}');
    last().message('{"channel":"r","id":10,"data":"y"}');
    assert.deepEqual(events.slice(1).map((e) => e[0]),
                     ['gap', 'message', 'message']);
    assert.deepEqual(events[1][1], { channel: 'r', lastId: 3, firstId: 9,
                                     reason: 'history_lost' });
    assert.deepEqual(c.lastIds, { r: 10 });
});

test('last id 0 (the whole history): the first id is not a gap', () => {
    const { c, last, events } = setup({ lastIds: { r: 0 } });

    assert.equal(last().url, 'ws://h/rooms?room=42&last_id=0');
    last().open();
    // ids carry the channel's epoch (docs/channels.md)
    last().message('{"channel":"r","id":378441215741953,"data":"x"}');
    last().message('{"channel":"r","id":378441215741954,"data":"y"}');
    assert.deepEqual(events.slice(1).map((e) => e[0]),
                     ['message', 'message']);
    assert.deepEqual(c.lastIds, { r: 378441215741954 });
});

test('a silent connection is dead after idleTimeout', () => {
    const { clock, last, events, made } = setup({ idleTimeout: 1000 });

    last().open();
    clock.advance(900);
    last().message('x');
    clock.advance(900);                     // 900 ms since the message
    assert.equal(made.length, 1);
    clock.advance(100);
    const close = events.find((e) => e[0] === 'close')[1];
    assert.equal(close.dead, true);
    assert.equal(close.willReconnect, true);
    assert.equal(made[0].onmessage, null, 'the dead socket is let go');
    assert.ok(made[0].closed, 'and closed');
    clock.advance(500);
    assert.equal(made.length, 2);
});

test('the heartbeat goes out when nothing arrives; its reply is hidden', () => {
    const { clock, last, events, made } = setup({
        heartbeat: { interval: 300, message: 'ping',
                     isReply: (d) => d === 'pong' }
    });

    last().open();
    clock.advance(299);
    assert.deepEqual(made[0].sent, []);
    clock.advance(1);
    assert.deepEqual(made[0].sent, ['ping']);
    clock.advance(100);
    last().message('pong');
    clock.advance(250);
    assert.deepEqual(made[0].sent, ['ping']);   // a reply 250 ms ago
    last().message('other');
    clock.advance(300);
    assert.deepEqual(made[0].sent, ['ping', 'ping']);
    assert.deepEqual(events.filter((e) => e[0] === 'message')
                           .map((e) => e[1].data), ['other']);
    clock.advance(599);                     // idleTimeout: 2 * interval
    assert.equal(made.length, 1);
    clock.advance(1);
    assert.equal(made.length, 1);
    assert.equal(events.at(-2)[1].dead, true);
});

test('subscriptions are commands, sent again after a reconnect', () => {
    const { c, clock, last } = setup({
        commands: { subscribe: (ch) => '+' + ch, unsubscribe: (ch) => '-' + ch }
    });

    c.subscribe('a');                       // queued until open
    last().open();
    c.subscribe('b');
    c.unsubscribe('a');
    assert.deepEqual(last().sent, ['+a', '+b', '-a']);
    assert.deepEqual(c.channels, ['b']);
    last().drop();
    clock.advance(1000);
    last().open();
    assert.deepEqual(last().sent, ['+b']);
});

test('a listener that throws does not break the client', () => {
    const { c, clock, last } = setup();
    const seen = [];

    c.on('message', () => { throw new Error('app bug'); });
    c.on('message', (m) => seen.push(m.data));
    last().open();
    last().message('x');
    assert.deepEqual(seen, ['x']);
    assert.throws(() => clock.advance(0), /app bug/);
});

test('reconnect() drops the socket and connects at once', () => {
    const { c, made, last, events } = setup();

    last().open();
    c.reconnect();
    assert.equal(made.length, 2);
    assert.equal(events.at(-1)[1].willReconnect, true);
    assert.equal(c.state, 'connecting');
});

test('ws-client.d.ts declares every export of ws-client.js', async () => {
    const fs = await import('node:fs');
    const mod = await import('../ws-client.js');
    const dts = fs.readFileSync(new URL('../ws-client.d.ts', import.meta.url),
                                'utf8');
    const declared = [...dts.matchAll(/^export (?:class|function) (\w+)/gm)]
                     .map((m) => m[1]).sort();

    assert.deepEqual(declared, Object.keys(mod).sort());
});

test('a socket already closing gets nothing: the message is queued', () => {
    const { c, clock, made, last } = setup();

    last().open();
    made[0].readyState = 2;                 // CLOSING, close event to come
    assert.equal(c.send('late'), true);
    assert.deepEqual(made[0].sent, []);
    assert.deepEqual(c.queued, { messages: 1, bytes: 4 });
    made[0].drop(1001, 'going away');
    clock.advance(1000);
    last().open();
    assert.deepEqual(last().sent, ['late']);
});

test('a URL function that throws is a failed attempt, retried', () => {
    const clock = new Clock();
    const { FakeWebSocket, made } = fakeSockets();
    let calls = 0;
    const c = new WsClient(() => {
        if (++calls === 1) {
            throw new Error('no token yet');
        }
        return 'ws://h/x?t=' + calls;
    }, { WebSocket: FakeWebSocket, timers: clock.api, random: () => 1,
         autoConnect: false });
    const seen = [];

    c.on('error', (e) => seen.push(e.error.message));
    c.on('reconnecting', (r) => seen.push('retry in ' + r.delay));
    c.connect();
    assert.deepEqual(seen, ['no token yet', 'retry in 500']);
    assert.equal(c.state, 'waiting');
    assert.equal(made.length, 0);
    clock.advance(500);
    assert.equal(c.state, 'connecting');
    assert.equal(made[0].url, 'ws://h/x?t=2');
});

test('1012: back after restartJitter, not the backoff; the reason\'s ids',
     () => {
    const s = setup({ backoff: { base: 5000, max: 5000 }, restartJitter: 300,
                      envelope: false });

    s.last().open();
    s.last().drop(1006);                    // a failure: the backoff
    s.clock.advance(4999);
    assert.equal(s.made.length, 1);
    s.clock.advance(1);
    assert.equal(s.made.length, 2);

    s.last().open();
    s.last().message('no id');
    s.last().drop(1012, 'resume:room%3A42=17');
    s.clock.advance(299);
    assert.equal(s.made.length, 2);
    s.clock.advance(1);
    assert.equal(s.made.length, 3, 'back after the jitter');
    assert.match(s.last().url, /\?room=42&last_id=17$/);
    assert.deepEqual(s.c.lastIds, { 'room:42': 17 });

    s.last().open();
    s.last().drop(1001, 'resume:room%3A42=18,b=2');
    assert.deepEqual(s.c.lastIds, { 'room:42': 18, b: 2 });
    s.clock.advance(4999);
    assert.equal(s.made.length, 3, '1001: the backoff');
    s.clock.advance(1);
    assert.equal(s.made.length, 4);
    assert.match(s.last().url, /last_id=room%3A42=18,b=2$/);
});

test('parseResumeReason', () => {
    assert.deepEqual(parseResumeReason('resume:a=1,x%2Cy%3Dz=20'),
                     new Map([['a', 1], ['x,y=z', 20]]));
    assert.equal(parseResumeReason('server restarting'), null);
    assert.equal(parseResumeReason('resume:a'), null);
    assert.equal(parseResumeReason('resume:a=x'), null);
    assert.equal(parseResumeReason('resume:%E0%A4%A=1'), null);
    assert.equal(parseResumeReason(undefined), null);
});
