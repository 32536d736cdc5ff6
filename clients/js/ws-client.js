// The client of ngx_ws_module's channels: a WebSocket that reconnects with
// backoff, resumes each channel from the last message id it saw, notices a
// connection that went silent, and queues (within bounds) what is sent
// while it is away.  No dependencies; browsers and Node >= 18.
// Reference: docs/client.md.
//
//   import { WsClient } from './ws-client.js';
//   const c = new WsClient('wss://example.com/rooms?room=42');
//   c.on('message', (m) => console.log(m.channel, m.id, m.data));
//   c.on('gap', (g) => refetchSnapshot(g.channel));

const DEFAULT_BACKOFF = {
    base: 500,              // ms: the first retry waits up to this long
    max: 30000,             // ms: no wait is longer
    factor: 2,              // the ceiling grows by this much per failure
    maxAttempts: Infinity,  // consecutive failures before giving up
    resetAfter: 5000        // ms open before failures count from 0 again
};

const DEFAULT_QUEUE = {
    maxMessages: 1000,
    maxBytes: 1048576
};

const DEFAULT_COMMANDS = {
    subscribe: (channel) => JSON.stringify({ type: 'subscribe', channel }),
    unsubscribe: (channel) => JSON.stringify({ type: 'unsubscribe',
                                               channel })
};

const HISTORY_LOST = '{"event":"history_lost",';
const OPEN = 1;                             // WebSocket.OPEN
const SERVICE_RESTART = 1012;               // a reload retired the worker
const DEFAULT_RESTART_JITTER = 1000;        // ms

const textEncoder = new TextEncoder();

// The wait before retry number "attempt" (0 for the first): "full jitter",
// a uniform random time between 0 and min(max, base * factor^attempt).

export function backoffDelay(attempt, backoff, random = Math.random) {
    const b = { ...DEFAULT_BACKOFF, ...backoff };
    const ceiling = Math.min(b.max, b.base * Math.pow(b.factor, attempt));

    return Math.floor(random() * ceiling);
}

// The value of the last_id argument for the ids seen so far: nothing when
// none, "N" when one channel was seen (form "auto") or for "plain" (the
// highest id), "NAME=N,..." with NAME percent-encoded for several channels.

export function lastIdValue(lastIds, form = 'auto') {
    const entries = [...lastIds];

    if (entries.length === 0) {
        return null;
    }

    if (form === 'plain' || (form === 'auto' && entries.length === 1)) {
        return String(Math.max(...entries.map((e) => e[1])));
    }

    return entries.map(([name, id]) => encodeURIComponent(name) + '=' + id)
                  .join(',');
}

// The ids in the reason of a server's Close when it shuts down or
// reloads: "resume:NAME=ID,..." (NAME percent-encoded), as a Map NAME ->
// ID; null for another reason.  Every message up to ID was sent before
// the Close.

export function parseResumeReason(reason) {
    if (typeof reason !== 'string' || !reason.startsWith('resume:')) {
        return null;
    }

    const ids = new Map();

    for (const entry of reason.slice(7).split(',')) {
        const eq = entry.lastIndexOf('=');

        if (eq <= 0 || !/^[0-9]+$/.test(entry.slice(eq + 1))) {
            return null;
        }

        const id = Number(entry.slice(eq + 1));
        let name;

        try {
            name = decodeURIComponent(entry.slice(0, eq));
        } catch (e) {
            return null;
        }

        if (!Number.isSafeInteger(id)) {
            return null;
        }

        ids.set(name, id);
    }

    return ids;
}

// The URL with the argument "name" set to "value" (already encoded), any
// earlier value of it removed; value null only removes it.

export function withArgument(url, name, value) {
    const hash = url.indexOf('#');
    const frag = hash === -1 ? '' : url.slice(hash);
    const base = hash === -1 ? url : url.slice(0, hash);
    const q = base.indexOf('?');
    const path = q === -1 ? base : base.slice(0, q);
    const args = q === -1 ? [] : base.slice(q + 1).split('&')
        .filter((a) => a !== '' && a !== name && !a.startsWith(name + '='));

    if (value !== null && value !== undefined) {
        args.push(name + '=' + value);
    }

    return path + (args.length ? '?' + args.join('&') : '') + frag;
}

// {"channel":"NAME","id":N,"data":"..."} as the module writes it (these
// keys, in this order), or null.

export function parseEnvelope(text) {
    if (!text.startsWith('{"channel":')) {
        return null;
    }

    let m;

    try {
        m = JSON.parse(text);
    } catch (e) {
        return null;
    }

    const keys = Object.keys(m);

    if (keys.length !== 3 || keys[0] !== 'channel' || keys[1] !== 'id'
        || keys[2] !== 'data' || typeof m.channel !== 'string'
        || !Number.isSafeInteger(m.id) || typeof m.data !== 'string')
    {
        return null;
    }

    return m;
}

// {"event":"history_lost","channel":...,"last_id":N,"first_id":M} or null.

export function parseHistoryLost(text) {
    if (!text.startsWith(HISTORY_LOST)) {
        return null;
    }

    try {
        const m = JSON.parse(text);

        if (typeof m.channel === 'string' && Number.isSafeInteger(m.last_id)
            && Number.isSafeInteger(m.first_id))
        {
            return m;
        }
    } catch (e) {
        /* not one: an ordinary message */
    }

    return null;
}

// Bytes a message takes on the wire (its payload): UTF-8 for strings.

export function messageSize(data) {
    if (typeof data === 'string') {
        return textEncoder.encode(data).length;
    }

    if (data === null || data === undefined) {
        return 0;
    }

    if (typeof data.byteLength === 'number') {
        return data.byteLength;               // ArrayBuffer, views, Buffer
    }

    if (typeof data.size === 'number') {
        return data.size;                     // Blob
    }

    return 0;
}

function clientError(code, message, extra) {
    const e = new Error(message);

    e.code = code;
    return Object.assign(e, extra);
}

export class WsClient {
    constructor(url, options = {}) {
        const o = options;
        const timers = o.timers || {};

        this.url = url;
        this.options = o;

        this._WebSocket = o.WebSocket || globalThis.WebSocket;

        if (typeof this._WebSocket !== 'function') {
            throw new TypeError('no WebSocket implementation: pass one as '
                                + 'options.WebSocket');
        }

        this._protocols = o.protocols;
        this._backoff = { ...DEFAULT_BACKOFF, ...o.backoff };
        this._queueLimits = { ...DEFAULT_QUEUE, ...o.queue };
        this._commands = { ...DEFAULT_COMMANDS, ...o.commands };
        this._random = o.random || Math.random;
        this._setTimeout = timers.setTimeout
                           || ((f, ms) => globalThis.setTimeout(f, ms));
        this._clearTimeout = timers.clearTimeout
                             || ((t) => globalThis.clearTimeout(t));
        this._now = timers.now || (() => Date.now());

        this._envelope = o.envelope !== false;
        this._resume = o.resume !== false;
        this._lastIdArg = o.lastIdArgument || 'last_id';
        this._lastIdForm = o.lastIdForm || 'auto';
        this._connectTimeout = o.connectTimeout === undefined
                               ? 10000 : o.connectTimeout;
        this._closeTimeout = o.closeTimeout || 5000;
        this._resubscribe = o.resubscribe !== false;
        this._restartJitter = o.restartJitter === undefined
                              ? DEFAULT_RESTART_JITTER : o.restartJitter;
        this._shouldReconnect = o.shouldReconnect
            || ((ev) => !(ev.code >= 4000 && ev.code <= 4999));

        this._heartbeat = null;

        if (o.heartbeat && o.heartbeat.interval > 0) {
            const message = o.heartbeat.message === undefined
                            ? 'ping' : o.heartbeat.message;

            this._heartbeat = {
                interval: o.heartbeat.interval,
                message,
                isReply: o.heartbeat.isReply || ((d) => d === message)
            };
        }

        this._idleTimeout = o.idleTimeout
            || (this._heartbeat ? 2 * this._heartbeat.interval : 0);

        this._listeners = new Map();
        this._lastIds = new Map(Object.entries(o.lastIds || {}));
        this._channels = new Set();           // runtime subscriptions
        this._queue = [];
        this._queueBytes = 0;

        this._ws = null;
        this._state = 'idle';
        this._attempt = 0;                    // consecutive failures
        this._retryTimer = null;
        this._connectTimer = null;
        this._liveTimer = null;
        this._openedAt = 0;
        this._lastReceived = 0;
        this._lastHeartbeat = 0;
        this._closeRequest = null;

        if (o.autoConnect !== false) {
            this.connect();
        }
    }

    // "idle", "connecting", "open", "waiting" (to reconnect), "closing",
    // "closed"
    get state() {
        return this._state;
    }

    get lastIds() {
        return Object.fromEntries(this._lastIds);
    }

    get channels() {
        return [...this._channels];
    }

    get queued() {
        return { messages: this._queue.length, bytes: this._queueBytes };
    }

    get socket() {
        return this._ws;
    }

    on(type, fn) {
        let set = this._listeners.get(type);

        if (!set) {
            set = new Set();
            this._listeners.set(type, set);
        }

        set.add(fn);
        return () => this.off(type, fn);
    }

    off(type, fn) {
        const set = this._listeners.get(type);

        if (set) {
            set.delete(fn);
        }
    }

    once(type, fn) {
        const off = this.on(type, (ev) => {
            off();
            fn(ev);
        });

        return off;
    }

    connect() {
        if (this._state !== 'idle' && this._state !== 'closed') {
            return;
        }

        this._closeRequest = null;
        this._attempt = 0;
        this._open();
    }

    // Closes for good (no reconnect): an open connection with a close
    // handshake (given up after closeTimeout), else at once.  What is
    // still queued is reported with an "error" event (code "not_sent").

    close(code = 1000, reason = '') {
        if (this._state === 'closed' || this._state === 'idle') {
            return;
        }

        const ws = this._ws;

        this._closeRequest = { code, reason };
        this._clearTimer('_retryTimer');

        if (ws === null) {
            this._finish({ code, reason, wasClean: true });
            return;
        }

        if (this._state !== 'open') {
            this._abandon(ws, { code, reason, wasClean: false });
            return;
        }

        this._clearTimer('_liveTimer');
        this._state = 'closing';

        try {
            ws.close(code, reason);
        } catch (e) {
            this._abandon(ws, { code: 1006, reason: String(e.message || e),
                                wasClean: false });
            return;
        }

        this._liveTimer = this._setTimeout(() => {
            this._liveTimer = null;
            this._abandon(ws, { code: 1006, wasClean: false,
                                reason: 'no close handshake after '
                                        + this._closeTimeout + ' ms' });
        }, this._closeTimeout);
    }

    // Drops the current connection (if any) and connects again at once.

    reconnect() {
        if (this._state === 'closed' || this._state === 'idle') {
            this.connect();
            return;
        }

        const ws = this._ws;

        this._attempt = 0;
        this._clearTimer('_retryTimer');

        if (ws !== null) {
            this._detach(ws);
            this._ws = null;
            this._clearTimer('_connectTimer');
            this._clearTimer('_liveTimer');
            this._state = 'waiting';
            this._emit('close', { code: 1006, reason: 'reconnect',
                                  wasClean: false, dead: false,
                                  willReconnect: true });
        }

        if (this._state === 'waiting') {
            this._open();
        }
    }

    // Sends now when open, else queues: true; false (and an "error" event
    // with code "queue_full") when the queue is full or the client closed.
    // A socket that is already closing (its close event not yet seen)
    // would discard the message silently: it is queued instead.

    send(data) {
        if (this._state === 'open' && this._ws.readyState === OPEN) {
            this._ws.send(data);
            return true;
        }

        const size = messageSize(data);
        const q = this._queueLimits;

        if (this._state === 'closed' || this._state === 'idle') {
            this._emit('error', {
                error: clientError('closed', 'the client is closed',
                                   { data })
            });
            return false;
        }

        if (this._queue.length + 1 > q.maxMessages
            || this._queueBytes + size > q.maxBytes)
        {
            this._emit('error', {
                error: clientError('queue_full',
                                   'send queue full ('
                                   + this._queue.length + ' messages, '
                                   + this._queueBytes + ' bytes)',
                                   { data })
            });
            return false;
        }

        this._queue.push({ data, size });
        this._queueBytes += size;
        return true;
    }

    // Asks the server (a ws_pass application) to subscribe this connection
    // to a channel, now and after every reconnect.  While disconnected the
    // command is not queued: it is sent when the connection opens.

    subscribe(channel) {
        this._channels.add(channel);

        if (this._state !== 'open' && this._resubscribe
            && this._state !== 'closed' && this._state !== 'idle')
        {
            return true;
        }

        return this.send(this._commands.subscribe(channel));
    }

    unsubscribe(channel) {
        const runtime = this._channels.delete(channel);

        if (this._state !== 'open' && runtime && this._resubscribe
            && this._state !== 'closed' && this._state !== 'idle')
        {
            return true;                      /* it will not be renewed */
        }

        return this.send(this._commands.unsubscribe(channel));
    }

    _emit(type, ev) {
        const set = this._listeners.get(type);

        if (!set) {
            return;
        }

        for (const fn of [...set]) {
            try {
                fn(ev);
            } catch (e) {
                /* a listener's bug must not break the client: report it
                 * the way an uncaught error would be */
                this._setTimeout(() => { throw e; }, 0);
            }
        }
    }

    _clearTimer(name) {
        if (this[name] !== null) {
            this._clearTimeout(this[name]);
            this[name] = null;
        }
    }

    _url() {
        const url = typeof this.url === 'function' ? this.url() : this.url;

        if (!this._resume) {
            return url;
        }

        return withArgument(url, this._lastIdArg,
                            lastIdValue(this._lastIds, this._lastIdForm));
    }

    _open() {
        let url, ws;

        this._state = 'connecting';

        try {
            url = this._url();
            ws = this._protocols === undefined
                 ? new this._WebSocket(url)
                 : new this._WebSocket(url, this._protocols);
        } catch (e) {
            this._emit('error', { error: e });
            this._ws = null;
            this._failed({ code: 1006, reason: String(e.message || e),
                           wasClean: false });
            return;
        }

        this._ws = ws;
        this._openUrl = url;

        try {
            ws.binaryType = 'arraybuffer';
        } catch (e) {
            /* an implementation without binaryType */
        }

        ws.onopen = () => this._onOpen(ws);
        ws.onmessage = (ev) => this._onMessage(ws, ev);
        ws.onerror = (ev) => {
            if (ws === this._ws) {
                this._emit('error', {
                    error: clientError('socket', 'WebSocket error',
                                       { event: ev })
                });
            }
        };
        ws.onclose = (ev) => this._socketGone(ws, {
            code: ev.code, reason: ev.reason, wasClean: ev.wasClean
        });

        if (this._connectTimeout > 0) {
            this._connectTimer = this._setTimeout(() => {
                this._connectTimer = null;
                this._abandon(ws, { code: 1006, wasClean: false,
                                    reason: 'not open after '
                                            + this._connectTimeout + ' ms' });
            }, this._connectTimeout);
        }
    }

    _onOpen(ws) {
        if (ws !== this._ws) {
            return;
        }

        this._clearTimer('_connectTimer');
        this._state = 'open';
        this._openedAt = this._now();
        this._lastReceived = this._openedAt;
        this._lastHeartbeat = this._openedAt;

        this._emit('open', { url: this._openUrl });

        if (this._ws !== ws || this._state !== 'open') {
            return;                           /* closed by a listener */
        }

        if (this._resubscribe) {
            for (const channel of this._channels) {
                ws.send(this._commands.subscribe(channel));
            }
        }

        const queue = this._queue;

        this._queue = [];
        this._queueBytes = 0;

        for (const m of queue) {
            ws.send(m.data);
        }

        this._armLiveness();
    }

    _onMessage(ws, ev) {
        if (ws !== this._ws) {
            return;
        }

        this._lastReceived = this._now();

        let data = ev.data;

        if (typeof data !== 'string') {
            if (typeof Buffer === 'function' && Buffer.isBuffer(data)) {
                data = data.buffer.slice(data.byteOffset,
                                         data.byteOffset + data.byteLength);
            }

            this._emit('message', { data, binary: true });
            return;
        }

        if (this._heartbeat && this._heartbeat.isReply(data)) {
            return;
        }

        if (this._resume || this._envelope) {
            const lost = parseHistoryLost(data);

            if (lost) {
                this._lastIds.set(lost.channel, lost.first_id - 1);
                this._emit('gap', { channel: lost.channel,
                                    lastId: lost.last_id,
                                    firstId: lost.first_id,
                                    reason: 'history_lost' });
                return;
            }
        }

        const env = this._envelope ? parseEnvelope(data) : null;

        if (env === null) {
            this._emit('message', { data, binary: false });
            return;
        }

        const last = this._lastIds.get(env.channel);

        this._lastIds.set(env.channel, env.id);

        if (last !== undefined && env.id !== last + 1) {
            this._emit('gap', { channel: env.channel, lastId: last,
                                firstId: env.id,
                                reason: env.id > last ? 'skipped' : 'reset' });
        }

        this._emit('message', { data: env.data, binary: false,
                                channel: env.channel, id: env.id });
    }

    // Liveness: with a heartbeat, "message" goes out when nothing arrived
    // for "interval"; with idleTimeout, nothing arriving for that long
    // means the connection is dead.

    _armLiveness() {
        this._clearTimer('_liveTimer');

        if (!this._idleTimeout && !this._heartbeat) {
            return;
        }

        const now = this._now();
        const silent = now - this._lastReceived;
        let wait = Infinity;

        if (this._idleTimeout) {
            if (silent >= this._idleTimeout) {
                this._abandon(this._ws, {
                    code: 1006, wasClean: false, dead: true,
                    reason: 'nothing received for ' + silent + ' ms'
                });
                return;
            }

            wait = this._idleTimeout - silent;
        }

        if (this._heartbeat) {
            const hb = this._heartbeat;
            const since = now - Math.max(this._lastReceived,
                                         this._lastHeartbeat);

            if (since >= hb.interval) {
                this._lastHeartbeat = now;

                if (this._ws.readyState === OPEN) {
                    this._ws.send(hb.message);
                }

                wait = Math.min(wait, hb.interval);
            } else {
                wait = Math.min(wait, hb.interval - since);
            }
        }

        this._liveTimer = this._setTimeout(() => {
            this._liveTimer = null;

            if (this._state === 'open') {
                this._armLiveness();
            }
        }, Math.max(wait, 1));
    }

    // Gives up on a socket that is not usable (dead, or never opened): it
    // is closed without waiting for its close handshake.

    _abandon(ws, ev) {
        if (ws !== this._ws) {
            return;
        }

        this._detach(ws);
        this._socketGone(ws, ev);
    }

    _detach(ws) {
        ws.onopen = ws.onmessage = ws.onclose = null;
        ws.onerror = () => {};                /* late errors: not ours */

        try {
            if (typeof ws.terminate === 'function') {
                ws.terminate();               /* Node's ws: the TCP goes */
            } else {
                ws.close();
            }
        } catch (e) {
            /* already closing */
        }
    }

    _socketGone(ws, ev) {
        if (ws !== this._ws) {
            return;
        }

        const wasOpen = this._state === 'open';

        this._ws = null;
        this._clearTimer('_connectTimer');
        this._clearTimer('_liveTimer');

        if (this._closeRequest) {
            this._finish(ev);
            return;
        }

        if (wasOpen
            && this._now() - this._openedAt >= this._backoff.resetAfter)
        {
            this._attempt = 0;
        }

        if (this._resume) {
            // a server that shuts down says where each channel resumes
            // from: all its channels, also those without an envelope
            const ids = parseResumeReason(ev.reason);

            if (ids) {
                for (const [name, id] of ids) {
                    this._lastIds.set(name, id);
                }
            }
        }

        if (!this._shouldReconnect(ev)) {
            this._finish(ev);
            return;
        }

        if (ev.code === SERVICE_RESTART) {
            // a reload: new workers are there, come back at once
            this._attempt = 0;
            this._failed(ev, Math.floor(this._random()
                                        * this._restartJitter));
            return;
        }

        this._failed(ev);
    }

    _failed(ev, restart) {
        if (restart === undefined
            && this._attempt >= this._backoff.maxAttempts)
        {
            this._emit('close', { ...ev, dead: !!ev.dead,
                                  willReconnect: false });
            this._state = 'closed';
            this._emit('giveup', { attempts: this._attempt });
            this._dropQueue();
            return;
        }

        const delay = restart !== undefined
                      ? restart
                      : backoffDelay(this._attempt, this._backoff,
                                     this._random);

        this._attempt++;
        this._state = 'waiting';
        this._emit('close', { ...ev, dead: !!ev.dead, willReconnect: true });

        if (this._state !== 'waiting') {
            return;                           /* closed by a listener */
        }

        this._emit('reconnecting', { attempt: this._attempt, delay });

        this._retryTimer = this._setTimeout(() => {
            this._retryTimer = null;

            if (this._state === 'waiting') {
                this._open();
            }
        }, delay);
    }

    _finish(ev) {
        this._state = 'closed';
        this._emit('close', { ...ev, dead: !!ev.dead, willReconnect: false });
        this._dropQueue();
    }

    _dropQueue() {
        if (this._queue.length === 0) {
            return;
        }

        const dropped = this._queue.map((m) => m.data);

        this._queue = [];
        this._queueBytes = 0;

        this._emit('error', {
            error: clientError('not_sent', dropped.length + ' queued '
                               + 'messages were not sent: the client closed',
                               { messages: dropped })
        });
    }
}
