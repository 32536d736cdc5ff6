// What the client does about the browser around it, without a browser: a
// scripted environment (online or not, visible or not, its events), a
// clock that runs timers late as a background tab does, backpressure on a
// scripted socket's bufferedAmount, and views sharing one connection.
// t/browser/client.test.mjs does the same in Chromium.

import test from 'node:test';
import assert from 'node:assert/strict';

import { WsClient, browserEnvironment } from '../ws-client.js';
import { Clock, setup } from '../testlib/fake.js';

// The browser as the client sees it; the test sets online/visible and
// fires the events.

function fakeEnvironment() {
    const listeners = new Map();
    const env = {
        isOnline: true,
        isVisible: true,
        online: () => env.isOnline,
        visible: () => env.isVisible,
        on(type, fn) {
            listeners.set(type, [...(listeners.get(type) || []), fn]);
            return () => listeners.set(type, (listeners.get(type) || [])
                                             .filter((f) => f !== fn));
        },
        fire(type) {
            for (const fn of listeners.get(type) || []) {
                fn();
            }
        },
        listening: () => [...listeners.values()].flat().length,
        goOffline() {
            env.isOnline = false;
            env.fire('offline');
        },
        goOnline() {
            env.isOnline = true;
            env.fire('online');
        },
        show(visible) {
            env.isVisible = visible;
            env.fire('visibilitychange');
        }
    };

    return env;
}

// Chromium's intensive throttling: in a hidden page a timer runs at the
// next whole minute at the earliest.

class ThrottledClock extends Clock {
    constructor(period) {
        super();
        this.period = period;
        this.throttled = false;
    }

    get api() {
        const api = super.api;

        return {
            ...api,
            setTimeout: (f, ms) => {
                if (!this.throttled) {
                    return api.setTimeout(f, ms);
                }

                const at = Math.ceil((this.t + ms) / this.period)
                           * this.period;

                return api.setTimeout(f, at - this.t);
            }
        };
    }
}

const envelope = (channel, id, data) => JSON.stringify({ channel, id, data });

test('offline: the socket is dropped, no attempt until online, then one',
     () => {
    const env = fakeEnvironment();
    const { c, clock, made, last, events, types } = setup({
        environment: env, onlineJitter: 400, random: () => 0.5
    });

    last().open();
    last().message(envelope('room', 7, 'a'));
    env.goOffline();
    assert.equal(made.length, 1);
    assert.ok(made[0].closed, 'the socket was closed');
    assert.equal(c.state, 'waiting');
    assert.equal(c.online, false);
    assert.deepEqual(types().slice(-2), ['close', 'offline']);
    assert.equal(events.at(-2)[1].reason, 'offline');
    assert.equal(events.at(-2)[1].willReconnect, true);

    assert.equal(c.send('while away'), true, 'queued');
    clock.advance(30000);
    env.fire('offline');                    // again: still nothing
    clock.advance(30000);
    assert.equal(made.length, 1, 'no attempt in 60 s offline');
    assert.ok(!types().includes('reconnecting'));

    env.goOnline();
    assert.equal(c.online, true);
    assert.deepEqual(types().slice(-2), ['online', 'reconnecting']);
    assert.deepEqual(events.at(-1)[1], { attempt: 1, delay: 200 });
    clock.advance(199);
    assert.equal(made.length, 1);
    clock.advance(1);
    assert.equal(made.length, 2, 'one attempt after the jitter');
    assert.match(last().url, /last_id=7$/);
    last().open();
    assert.deepEqual(last().sent, ['while away']);
    env.goOnline();                         // a second "online": nothing
    clock.advance(10000);
    assert.equal(made.length, 2);
});

test('offline: a failed attempt waits for online instead of backing off',
     () => {
    const env = fakeEnvironment();
    const { c, clock, made, last, types } = setup({ environment: env });

    last().drop();                          // refused: retry after 500
    env.goOffline();                        // the pending retry is off
    clock.advance(600000);
    assert.equal(made.length, 1);
    assert.equal(types().filter((t) => t === 'offline').length, 1);

    env.goOnline();
    clock.advance(500);
    assert.equal(made.length, 2);
    last().open();
    assert.equal(c.state, 'open');
});

test('offline at connect(): the first socket waits for online', () => {
    const env = fakeEnvironment();

    env.isOnline = false;

    const { c, clock, made, types } = setup({ environment: env,
                                              onlineJitter: 0,
                                              autoConnect: false });

    c.connect();
    assert.equal(made.length, 0);
    assert.equal(c.state, 'waiting');
    assert.deepEqual(types(), ['offline']);
    env.goOnline();
    clock.advance(0);
    assert.equal(made.length, 1);
});

test('the browser\'s events are followed only while the client runs', () => {
    const env = fakeEnvironment();
    const { c, last } = setup({ environment: env });

    assert.equal(env.listening(), 4);
    last().open();
    c.close();
    last().drop(1000);
    assert.equal(c.state, 'closed');
    assert.equal(env.listening(), 0);
    c.connect();
    assert.equal(env.listening(), 4);
});

test('browserEnvironment: none in Node, the window\'s in a browser', () => {
    assert.equal(browserEnvironment(), null);

    const added = [];
    const target = (name) => ({
        addEventListener: (type) => added.push(name + ':' + type),
        removeEventListener: (type) => added.push('-' + name + ':' + type)
    });
    const win = {
        ...target('window'),
        navigator: { onLine: false },
        document: { visibilityState: 'hidden', ...target('document') }
    };
    const env = browserEnvironment(win);

    assert.equal(env.online(), false);
    assert.equal(env.visible(), false);
    win.navigator.onLine = true;
    win.document.visibilityState = 'visible';
    assert.equal(env.online(), true);
    assert.equal(env.visible(), true);
    env.on('online', () => {});
    env.on('visibilitychange', () => {})();
    assert.deepEqual(added, ['window:online', 'document:visibilitychange',
                             '-document:visibilitychange']);
});

// A heartbeat answered at once, as an echo does; timers once a minute.

function throttledSetup(extra = {}) {
    const clock = new ThrottledClock(60000);
    const env = fakeEnvironment();
    const s = setup({ environment: env, timers: clock.api,
                      heartbeat: { interval: 20000 }, ...extra });

    s.last().open();
    return { ...s, clock, env };
}

// Moves time to the next whole minute and answers a heartbeat sent then
// (when "answer"), 50 ms later: network events are not throttled.

function minute(s, answer = true) {
    const sock = s.last();
    const sent = sock.sent.length;

    s.clock.advance(60000 - s.clock.t % 60000);

    if (answer && sock.sent.length > sent) {
        s.clock.advance(50);
        sock.message('ping');
    }
}

test('background tab: timers once a minute do not make a live socket dead',
     () => {
    const s = throttledSetup();             // idleTimeout: 40 s

    s.env.show(false);
    s.clock.throttled = true;

    for (let i = 0; i < 6; i++) {
        minute(s);
    }

    assert.deepEqual(s.types(), ['open'], 'not closed in 6 minutes');
    assert.equal(s.made.length, 1);
    assert.ok(s.last().sent.length >= 5, 'a heartbeat every minute');

    // visible again: checked at once, the heartbeat goes out now
    const sent = s.last().sent.length;

    s.clock.throttled = false;
    s.clock.advance(5000);
    s.env.show(true);
    assert.equal(s.last().sent.length, sent + 1);
    s.clock.advance(50);
    s.last().message('ping');
    s.clock.advance(30000);
    assert.deepEqual(s.types(), ['open']);
});

test('background tab: a dead socket is still noticed, one minute late',
     () => {
    const s = throttledSetup();

    s.env.show(false);
    s.clock.throttled = true;
    minute(s);                              // late: grace, heartbeat
    minute(s, false);                       // late, the same; it dies
    assert.deepEqual(s.types(), ['open']);
    minute(s, false);                       // its heartbeat unanswered
    assert.deepEqual(s.types(), ['open', 'close', 'reconnecting']);
    assert.equal(s.events[1][1].dead, true);
    assert.match(s.events[1][1].reason, /^nothing received for 8[0-9]{4} ms/);
});

test('a frozen page: its clock jumps, the socket is checked on resume',
     () => {
    const s = throttledSetup({ idleTimeout: 30000 });

    // frozen for 5 minutes: no timer ran, nothing was handled
    s.clock.t += 300000;
    s.env.fire('resume');
    assert.deepEqual(s.types(), ['open'], 'not taken for dead');
    assert.equal(s.last().sent.at(-1), 'ping', 'checked at once');
    s.clock.advance(9999);                  // the reply is not there yet
    assert.deepEqual(s.types(), ['open']);
    s.clock.advance(1);                     // 30 s - 20 s after the check
    assert.equal(s.events[1][1].dead, true);
});

test('visible again: a pending reconnect happens now', () => {
    const env = fakeEnvironment();
    const { clock, made, last } = setup({
        environment: env, backoff: { base: 30000 }
    });

    last().open();
    last().drop();
    env.show(false);
    clock.advance(5000);
    assert.equal(made.length, 1);
    env.show(true);
    assert.equal(made.length, 2);
    last().open();
    clock.advance(60000);
    assert.equal(made.length, 2, 'the backoff timer was cancelled');
});

test('backpressure: write() tells what waits, sendAsync() waits for it',
     async () => {
    const { c, clock, last } = setup({
        highWaterMark: 100, drainInterval: 10
    });

    assert.equal(c.write('x'.repeat(30)), 30, 'queued while connecting');
    assert.equal(c.bufferedAmount, 30);
    last().open();
    assert.equal(c.bufferedAmount, 30, 'now in the socket\'s buffer');
    assert.equal(c.write('y'.repeat(50)), 80);

    let done = null;
    const p = c.sendAsync('z'.repeat(50)).then((n) => { done = n; });

    await null;
    assert.equal(done, null, '130 > 100: waiting');
    last().flush(20);
    clock.advance(10);
    await null;
    assert.equal(done, null, '110 > 100: still waiting');
    last().flush(20);
    clock.advance(10);
    await p;
    assert.equal(done, 90);

    assert.equal(await c.sendAsync('w', 1000), 91, 'below: at once');
    assert.equal(await c.drained(91), 91);

    // refused: the promise rejects with the error event's error
    const { c: d, events } = setup({ queue: { maxMessages: 1 } });

    d.send('a');
    await assert.rejects(d.sendAsync('b'), { code: 'queue_full', data: 'b' });
    assert.equal(d.write('c'), -1);
    assert.deepEqual(events.map((e) => [e[0], e[1].error.code,
                                        e[1].error.data]),
                     [['error', 'queue_full', 'b'],
                      ['error', 'queue_full', 'c']], 'reported as by send()');
});

test('backpressure: the queue counts while away; close rejects waiters',
     async () => {
    const { c, clock, last } = setup({ highWaterMark: 10,
                                       drainInterval: 10 });
    let done = null;
    const p = c.sendAsync('0123456789abcdef').then((n) => { done = n; });

    clock.advance(1000);
    await null;
    assert.equal(done, null, 'held while connecting');
    last().open();                          // the queue goes to the socket
    last().flush();
    clock.advance(10);
    await p;
    assert.equal(done, 0);

    c.sendAsync('x'.repeat(100)).catch(() => {});
    const waiting = c.drained(10);

    c.close();
    last().drop(1000);
    await assert.rejects(waiting, { code: 'closed' });
    await assert.rejects(c.drained(0).then(() => c.sendAsync('y')),
                         { code: 'closed' });
});

test('views share one connection: a channel\'s command goes once', () => {
    const { c, clock, made, last, events } = setup({
        commands: { subscribe: (ch) => '+' + ch, unsubscribe: (ch) => '-' + ch }
    });
    const news = c.view();
    const side = c.view();
    const got = { news: [], side: [] };

    news.on('message', (m) => got.news.push(m.channel + m.id));
    side.on('message', (m) => got.side.push(m.channel + m.id));
    side.on('gap', (g) => got.side.push('gap ' + g.channel));

    news.subscribe('a');
    news.subscribe('b');
    side.subscribe('a');
    side.subscribe('a');                    // held once per view
    last().open();
    assert.deepEqual(last().sent, ['+a', '+b']);
    assert.deepEqual(c.channels, ['a', 'b']);

    last().message(envelope('a', 1, 'x'));
    last().message(envelope('b', 1, 'x'));
    last().message(envelope('c', 1, 'x'));   // a location's own channel
    assert.deepEqual(got, { news: ['a1', 'b1'], side: ['a1'] });
    assert.equal(events.filter((e) => e[0] === 'message').length, 3);

    news.unsubscribe('a');                  // side still holds it
    assert.deepEqual(last().sent, ['+a', '+b']);
    last().message(envelope('a', 2, 'x'));
    assert.deepEqual(got, { news: ['a1', 'b1'], side: ['a1', 'a2'] });

    c.subscribe('a');                       // the client's own hold
    side.close();
    assert.deepEqual(last().sent, ['+a', '+b']);
    c.unsubscribe('a');                     // the last holder
    assert.deepEqual(last().sent, ['+a', '+b', '-a']);
    assert.deepEqual(c.channels, ['b']);
    assert.equal(side.subscribe('z'), false, 'a closed view');

    last().message(envelope('b', 3, 'x'));   // 2 skipped: news sees it
    assert.deepEqual(got.news, ['a1', 'b1', 'b3']);

    last().drop();
    clock.advance(1000);
    last().open();
    assert.deepEqual(last().sent, ['+b'], 'renewed once');
    assert.equal(made.length, 2);
    news.close();
    assert.deepEqual(last().sent, ['+b', '-b']);
    assert.deepEqual(c.channels, []);
});

test('a view only gets its own channels\' gaps', () => {
    const { c, last } = setup();
    const v = c.view();
    const w = c.view();
    const seen = [];

    v.subscribe('a');
    w.subscribe('b');
    v.on('gap', (g) => seen.push(['v', g.channel, g.reason]));
    w.on('gap', (g) => seen.push(['w', g.channel, g.reason]));
    last().open();
    last().message(envelope('a', 1, ''));
    last().message(envelope('a', 3, ''));
    last().message('{"event":"history_lost","channel":"b","last_id":1,'
                   + '"first_id":5}');
    assert.deepEqual(seen, [['v', 'a', 'skipped'], ['w', 'b', 'history_lost']]);
    assert.ok(WsClient);
});
