// The fallback from WebSocket to EventSource (sending with POST) to
// long-polling, without a network: scripted WebSockets, EventSources and
// fetch, and a clock the test moves by hand (testlib/fake.js).

import test from 'node:test';
import assert from 'node:assert/strict';

import { WsClient, pollEntry, streamId, fromBase64 } from '../ws-client.js';
import { Clock, fakeSockets } from '../testlib/fake.js';

const tick = () => new Promise((r) => setImmediate(r));

function fakeEventSources() {
    const made = [];

    class FakeEventSource {
        constructor(url, init) {
            this.url = url;
            this.init = init;
            this.readyState = 0;
            this.listeners = new Map();
            this.closed = false;
            made.push(this);
        }

        addEventListener(type, fn) {
            this.listeners.set(type, fn);
        }

        close() {
            this.closed = true;
            this.readyState = 2;
        }

        // the test's side
        open() {
            this.readyState = 1;
            this.onopen && this.onopen({});
        }

        event(type, data, lastEventId) {
            const ev = { data, lastEventId };

            if (type === 'message') {
                this.onmessage && this.onmessage(ev);
            } else if (this.listeners.has(type)) {
                this.listeners.get(type)(ev);
            }
        }

        fail(refused = true) {
            this.readyState = refused ? 2 : 0;
            this.onerror && this.onerror({});
        }
    }

    return { FakeEventSource, made };
}

function fakeFetch() {
    const calls = [];

    const fetch = (url, init) => new Promise((resolve, reject) => {
        const call = {
            url, init,
            answer: (status, body) => resolve({
                ok: status >= 200 && status < 300, status,
                json: async () => body
            }),
            fail: (e) => reject(e || new TypeError('Failed to fetch'))
        };

        if (init.signal) {
            init.signal.addEventListener('abort', () => {
                call.aborted = true;
                reject(new Error('aborted'));
            });
        }

        calls.push(call);
    });

    return { fetch, calls };
}

function setup(options = {}) {
    const clock = new Clock();
    const ws = fakeSockets();
    const es = fakeEventSources();
    const http = fakeFetch();
    const events = [];
    const c = new WsClient('ws://h/rooms?room=1', {
        WebSocket: ws.FakeWebSocket, EventSource: es.FakeEventSource,
        fetch: http.fetch, timers: clock.api, random: () => 1,
        environment: null,
        eventSourceUrl: 'http://h/events?room=1',
        longPollUrl: 'http://h/poll?room=1',
        sendUrl: 'http://h/send?channel=room%3A1',
        lastIds: { 'room:1': 0 },
        backoff: { base: 100, max: 100 },
        ...options
    });

    for (const type of ['open', 'close', 'message', 'gap', 'error',
                        'transport'])
    {
        c.on(type, (ev) => events.push([type, ev]));
    }

    const polls = () => http.calls.filter((x) => x.init.method === 'GET');
    const posts = () => http.calls.filter((x) => x.init.method === 'POST');

    return { c, clock, ws: ws.made, es: es.made, http: http.calls, polls,
             posts, events, of: (t) => events.filter((e) => e[0] === t)
                                              .map((e) => e[1]) };
}

test('without fallback URLs only WebSockets are tried, as before', () => {
    const clock = new Clock();
    const ws = fakeSockets();
    const c = new WsClient('ws://h/x', { WebSocket: ws.FakeWebSocket,
                                         timers: clock.api, environment: null,
                                         random: () => 1,
                                         backoff: { base: 100, max: 100 } });

    for (let i = 0; i < 6; i++) {
        ws.made.at(-1).drop();
        clock.advance(100);
    }

    assert.equal(ws.made.length, 7);
    assert.equal(c.transport, 'websocket');
    assert.deepEqual(c.transports, ['websocket']);
    c.close();
});

test('a refused WebSocket falls back to EventSource and sends by POST',
     async () => {
    const { c, clock, ws, es, posts, of } = setup();

    ws[0].drop();                           // refused upgrade: never open
    clock.advance(100);
    assert.equal(ws.length, 2);
    assert.equal(c.send('queued while away'), true);
    ws[1].drop();
    assert.deepEqual(of('transport'), [{ transport: 'eventsource',
                                         previous: 'websocket',
                                         reason: 'failed' }]);
    clock.advance(100);
    assert.equal(es.length, 1);
    assert.equal(es[0].url, 'http://h/events?room=1&last_id=0');
    es[0].open();
    assert.equal(c.state, 'open');
    assert.equal(of('open').at(-1).transport, 'eventsource');

    // the queue goes first, by POST, one at a time and in order
    assert.equal(c.send('hello'), true);
    await tick();
    assert.equal(posts().length, 1);
    assert.equal(posts()[0].url, 'http://h/send?channel=room%3A1');
    assert.equal(posts()[0].init.body, 'queued while away');
    posts()[0].answer(200, {});
    await tick();
    assert.equal(posts().length, 2);
    assert.equal(posts()[1].init.body, 'hello');
    posts()[1].answer(403, {});
    await tick();
    assert.equal(of('error').at(-1).error.code, 'send_failed');
    assert.equal(of('error').at(-1).error.status, 403);

    // ids of a one-channel stream belong to the channel of lastIds
    es[0].event('message', 'a', '100');
    es[0].event('binary', 'AP8=', '101');
    es[0].event('history_lost', JSON.stringify({
        event: 'history_lost', channel: 'room:1', last_id: 101,
        first_id: 110 }), '109');
    es[0].event('message', 'b', '110');

    const m = of('message');

    assert.deepEqual(m.map((x) => [x.channel, x.id, x.binary]),
                     [['room:1', 100, false], ['room:1', 101, true],
                      ['room:1', 110, false]]);
    assert.deepEqual([...new Uint8Array(m[1].data)], [0, 255]);
    assert.deepEqual(of('gap').map((g) => [g.lastId, g.firstId, g.reason]),
                     [[101, 110, 'history_lost']]);
    assert.deepEqual(c.lastIds, { 'room:1': 110 });

    // a cut stream is reopened by the client, from the last id
    es[0].fail(false);
    assert.equal(es[0].closed, true, 'the browser does not retry itself');
    clock.advance(100);
    assert.equal(es[1].url, 'http://h/events?room=1&last_id=110');
    c.close();
});

test('a stream of several channels: the channel is the one whose id moved',
     () => {
    const { c, clock, ws, es, of } = setup({
        lastIds: { a: 5, 'b,c': 7 }, fallbackAfter: 1
    });

    ws[0].drop();
    clock.advance(100);
    assert.equal(es[0].url, 'http://h/events?room=1&last_id=a=5,b%2Cc=7');
    es[0].open();
    es[0].event('message', 'x', 'a=5,b%2Cc=8');
    es[0].event('message', 'y', 'a=6,b%2Cc=8');
    assert.deepEqual(of('message').map((x) => [x.channel, x.id, x.data]),
                     [['b,c', 8, 'x'], ['a', 6, 'y']]);
    assert.deepEqual(of('gap'), []);
    c.close();
});

test('EventSource failing too: long-polling, each poll from the last',
     async () => {
    const { c, clock, ws, es, polls, of } = setup({ fallbackAfter: 1 });

    ws[0].drop();
    clock.advance(100);
    es[0].fail(true);                       // 403: never open
    assert.equal(of('transport').at(-1).transport, 'longpoll');
    clock.advance(100);
    assert.equal(polls().length, 1);
    assert.equal(polls()[0].url, 'http://h/poll?room=1&last_id=0');
    assert.equal(c.state, 'connecting');
    polls()[0].answer(200, { messages: [
        { channel: 'room:1', id: 200, data: 'one', binary: false },
        { channel: 'room:1', id: 201, data: 'AQI=', binary: true }
    ], last_id: 'room%3A1=201' });
    await tick();
    await tick();
    assert.equal(c.state, 'open');
    assert.deepEqual(of('message').map((x) => [x.channel, x.id]),
                     [['room:1', 200], ['room:1', 201]]);
    assert.equal(polls().length, 2);
    assert.equal(polls()[1].url, 'http://h/poll?room=1&last_id=201');

    // a timeout's answer moves nothing; a lost history is a gap
    polls()[1].answer(200, { messages: [], last_id: 'room%3A1=201' });
    await tick();
    await tick();
    polls()[2].answer(200, { messages: [
        { channel: 'room:1', id: 209, event: 'history_lost',
          data: { event: 'history_lost', channel: 'room:1', last_id: 201,
                  first_id: 210 } },
        { channel: 'room:1', id: 210, data: 'ten', binary: false }
    ], last_id: 'room%3A1=210' });
    await tick();
    await tick();
    assert.deepEqual(of('gap').map((g) => [g.lastId, g.firstId, g.reason]),
                     [[201, 210, 'history_lost']]);
    assert.equal(of('message').length, 3);
    assert.equal(polls()[3].url, 'http://h/poll?room=1&last_id=210');

    // a poll that fails after a while: the client reconnects and resumes
    clock.advance(6000);
    polls()[3].fail();
    await tick();
    await tick();
    assert.equal(c.state, 'waiting');
    clock.advance(100);
    assert.equal(polls()[4].url, 'http://h/poll?room=1&last_id=210');

    // close() stops the poll in flight
    c.close();
    await tick();
    assert.equal(polls()[4].aborted, true);
});

test('a held first poll opens the transport; a hung one is given up',
     async () => {
    const { c, clock, ws, polls } = setup({
        transports: ['longpoll'], pollOpen: 1000, pollTimeout: 5000
    });

    assert.equal(ws.length, 0);
    assert.equal(c.state, 'connecting');
    clock.advance(1000);
    assert.equal(c.state, 'open');
    clock.advance(4000);
    await tick();
    assert.equal(polls()[0].aborted, true);
    assert.equal(c.state, 'waiting');
    c.close();
});

test('on a fallback the WebSocket is probed again and taken back',
     async () => {
    const { c, clock, ws, es, posts, of } = setup({
        fallbackAfter: 1, upgradeInterval: 30000
    });

    ws[0].drop();
    clock.advance(100);
    es[0].open();
    es[0].event('message', 'a', '300');
    clock.advance(29999);
    assert.equal(ws.length, 1);
    clock.advance(1);
    assert.equal(ws.length, 2, 'a probe');
    assert.equal(ws[1].url, 'ws://h/rooms?room=1&last_id=300');
    ws[1].drop();                           // still refused
    assert.equal(c.transport, 'eventsource');
    clock.advance(30000);
    assert.equal(ws.length, 3, 'probed again');

    // a message sent now waits behind one in flight
    c.send('in flight');
    c.send('waiting');
    await tick();
    assert.equal(posts().length, 1);

    ws[2].open();                           // it gets through: switch
    assert.equal(ws[2].closed !== null, true, 'the probe is closed');
    assert.deepEqual(of('transport').at(-1),
                     { transport: 'websocket', previous: 'eventsource',
                       reason: 'upgrade' });
    assert.equal(es[0].closed, true);
    assert.equal(ws.length, 4);
    assert.equal(ws[3].url, 'ws://h/rooms?room=1&last_id=300');
    ws[3].open();
    assert.deepEqual(ws[3].sent, ['waiting'], 'the rest moves over');
    posts()[0].answer(200, {});
    await tick();
    assert.equal(posts().length, 1);
    c.close();
});

test('after the last transport fails, the first is tried again',
     async () => {
    const { c, clock, ws, es, polls, of } = setup({ fallbackAfter: 1 });

    ws[0].drop();
    clock.advance(100);
    es[0].fail();
    clock.advance(100);
    assert.equal(polls().length, 1);
    polls()[0].answer(403, {});
    await tick();
    await tick();
    assert.equal(c.transport, 'websocket');
    clock.advance(100);
    assert.equal(ws.length, 2);
    ws[1].drop();
    assert.equal(c.transport, 'eventsource');
    c.close();
    assert.equal(c.state, 'closed');
    c.connect();                            // connect() starts at the top
    assert.equal(c.transport, 'websocket');
    assert.deepEqual(of('transport').map((t) => t.reason),
                     ['failed', 'failed', 'all failed', 'failed', 'connect']);
    assert.equal(ws.length, 3);
    c.close();
});

test('helpers: stream ids, poll entries, base64', () => {
    assert.deepEqual(streamId('17'), { id: 17 });
    assert.deepEqual(streamId('a=1,b%3Dc=2'),
                     { ids: new Map([['a', 1], ['b=c', 2]]) });
    assert.deepEqual(streamId('x'), { raw: 'x' });
    assert.deepEqual(streamId(''), {});
    assert.deepEqual(pollEntry({ channel: 'r', id: 3, data: 'x',
                                 binary: false }),
                     { channel: 'r', id: 3, data: 'x', binary: false });
    assert.deepEqual([...new Uint8Array(fromBase64('AP9i'))], [0, 255, 98]);
});

test('without sendUrl, what is sent waits for a WebSocket', async () => {
    const { c, clock, ws, es, posts } = setup({
        sendUrl: undefined, fallbackAfter: 1, upgradeInterval: 1000
    });

    ws[0].drop();
    clock.advance(100);
    es[0].open();
    assert.equal(c.send('later'), true);
    await tick();
    assert.equal(posts().length, 0);
    assert.deepEqual(c.queued, { messages: 1, bytes: 5 });
    clock.advance(1000);
    ws[1].open();                           // the probe
    ws[2].open();
    assert.deepEqual(ws[2].sent, ['later']);
    c.close();
});
