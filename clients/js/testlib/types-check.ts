// Compiled (not run) by t/095-js-client.t with tsc --strict: the
// declarations in ws-client.d.ts are valid and describe the documented use.
import { WsClient, backoffDelay, lastIdValue, type GapEvent,
         type WsClientOptions } from '../ws-client.js';

const options: WsClientOptions = {
    backoff: { base: 250, max: 10000, factor: 2, maxAttempts: Infinity },
    queue: { maxMessages: 100, maxBytes: 65536 },
    heartbeat: { interval: 15000, message: 'ping',
                 isReply: (d: string) => d === 'pong' },
    idleTimeout: 40000,
    lastIds: { 'room:42': 17 },
    commands: { subscribe: (ch: string) => JSON.stringify({ join: ch }) },
    shouldReconnect: (ev) => ev.code !== 4001
};

const c = new WsClient(() => 'wss://example.com/rooms?room=42', options);
const off: () => void = c.on('gap', (g: GapEvent) => {
    const reason: 'history_lost' | 'skipped' | 'reset' = g.reason;
    console.log(g.channel, g.lastId, g.firstId, reason);
});

c.on('message', (m) => {
    if (!m.binary && typeof m.data === 'string' && m.id !== undefined) {
        console.log(m.channel, m.id + 1, m.data.length);
    }
});
c.on('close', (e) => console.log(e.code, e.dead, e.willReconnect));
c.on('reconnecting', (r) => console.log(r.attempt, r.delay));
c.on('error', (e) => console.log(e.error.message));

const ok: boolean = c.send('hello') && c.send(new Uint8Array(3))
                    && c.subscribe('news') && c.unsubscribe('news');
const ids: Record<string, number> = c.lastIds;
const n: number = backoffDelay(3, { base: 100 }) + c.queued.bytes;
const v: string | null = lastIdValue(new Map([['a', 1]]), 'channels');

const view = c.view();
const left: boolean = view.subscribe('news') && view.unsubscribe('news');
view.on('message', (m) => console.log(m.channel, m.data));
view.close();

async function produce(): Promise<number> {
    const waiting: number = c.write('x') + c.bufferedAmount;
    await c.sendAsync(new Uint8Array(1024), 65536);
    return waiting + await c.drained();
}

c.on('offline', () => console.log('offline', c.online));
console.log(ok, ids, n, v, c.state, c.channels, left, produce());
off();
c.close(1000, 'bye');

// the fallback transports
const f = new WsClient('wss://example.com/rooms?room=1', {
    eventSourceUrl: '/events?room=1',
    longPollUrl: () => '/poll?room=1',
    sendUrl: (d) => '/send?channel=room:1&n=' + String(d).length,
    transports: ['websocket', 'eventsource', 'longpoll'],
    fallbackAfter: 2,
    upgradeInterval: 60000,
    channel: 'room:1'
});
f.on('transport', (t) => console.log(t.transport, t.previous, t.reason));
f.on('open', (o) => console.log(o.transport, f.transport, f.transports));
