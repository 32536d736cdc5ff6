// What the tests without a network share: a clock the test moves by
// hand, a scripted WebSocket, and a client made of both whose events are
// recorded.

import { WsClient, messageSize } from '../ws-client.js';

export class Clock {
    constructor() {
        this.t = 1000;
        this.timers = new Map();
        this.seq = 0;
    }

    get api() {
        return {
            setTimeout: (f, ms) => {
                const id = ++this.seq;
                this.timers.set(id, { at: this.t + ms, f });
                return id;
            },
            clearTimeout: (id) => this.timers.delete(id),
            now: () => this.t
        };
    }

    // moves time forward, running the timers that fall due, in order
    advance(ms) {
        const end = this.t + ms;

        for (;;) {
            let first = null;

            for (const [id, tm] of this.timers) {
                if (tm.at <= end && (first === null || tm.at < first[1].at)) {
                    first = [id, tm];
                }
            }

            if (first === null) {
                break;
            }

            this.timers.delete(first[0]);
            this.t = Math.max(this.t, first[1].at);
            first[1].f();
        }

        this.t = end;
    }
}

export function fakeSockets() {
    const made = [];

    class FakeWebSocket {
        constructor(url, protocols) {
            this.url = url;
            this.protocols = protocols;
            this.sent = [];
            this.closed = null;
            this.readyState = 0;
            this.bufferedAmount = 0;        // what send() added, until sent
            made.push(this);
        }

        send(d) {
            if (this.readyState !== 1) {
                throw new Error('send on a socket that is not open');
            }
            this.sent.push(d);
            this.bufferedAmount += messageSize(d);
        }

        close(code, reason) {
            this.closed = { code, reason };
        }

        // the test's side
        flush(bytes = Infinity) {
            this.bufferedAmount = Math.max(0, this.bufferedAmount - bytes);
        }

        open() {
            this.readyState = 1;
            this.onopen && this.onopen({});
        }

        message(data) {
            this.onmessage && this.onmessage({ data });
        }

        drop(code = 1006, reason = '') {
            this.readyState = 3;
            this.onclose && this.onclose({ code, reason, wasClean: false });
        }
    }

    return { FakeWebSocket, made };
}

export function setup(options = {}) {
    const clock = new Clock();
    const { FakeWebSocket, made } = fakeSockets();
    const events = [];
    const c = new WsClient('ws://h/rooms?room=42', {
        WebSocket: FakeWebSocket, timers: clock.api, random: () => 1,
        ...options
    });

    for (const type of ['open', 'close', 'reconnecting', 'message', 'gap',
                        'error', 'giveup', 'offline', 'online'])
    {
        c.on(type, (ev) => events.push([type, ev]));
    }

    return { c, clock, made, events,
             last: () => made[made.length - 1],
             types: () => events.map((e) => e[0]) };
}
