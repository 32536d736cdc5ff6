// The client of ngx_ws_module's channels: a WebSocket that reconnects with
// backoff, resumes each channel from the last message id it saw, notices a
// connection that went silent, and queues (within bounds) what is sent
// while it is away.  In a browser it also waits while the device is
// offline, copes with the timers of a background tab, and lets several
// views of a page share its one connection.  No dependencies; browsers and
// Node >= 18.
// Where WebSockets do not get through (a proxy that refuses or strips
// the upgrade), it falls back to EventSource (sending with HTTP POST), then
// to long-polling, with the same events and resume, and tries the better
// transport again later.
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
const DEFAULT_ONLINE_JITTER = 500;          // ms
const DEFAULT_LATE_TIMER = 1000;            // ms
const DEFAULT_HIGH_WATER_MARK = 65536;      // bytes
const DEFAULT_DRAIN_INTERVAL = 20;          // ms
const DEFAULT_FALLBACK_AFTER = 2;           // quick failures of a transport
const DEFAULT_UPGRADE_INTERVAL = 60000;     // ms on a fallback transport
const DEFAULT_POLL_TIMEOUT = 60000;         // ms: one long-poll at most
const DEFAULT_POLL_OPEN = 1000;             // ms held: the poll got through
const TRANSPORTS = ['websocket', 'eventsource', 'longpoll'];

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

// The browser around the client: whether the device is online and the
// page visible, and their events ("online", "offline" on the window,
// "visibilitychange", "resume" on the document); null where there is no
// window (Node), which then behaves as always online and visible.

export function browserEnvironment(g = globalThis) {
    if (typeof g.addEventListener !== 'function') {
        return null;
    }

    const doc = g.document;
    const nav = g.navigator;

    return {
        online: () => !(nav && nav.onLine === false),
        visible: () => !(doc && doc.visibilityState === 'hidden'),
        on: (type, fn) => {
            const target = type === 'online' || type === 'offline' ? g : doc;

            if (!target || typeof target.addEventListener !== 'function') {
                return () => {};
            }

            target.addEventListener(type, fn);
            return () => target.removeEventListener(type, fn);
        }
    };
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
        this._EventSource = o.EventSource || globalThis.EventSource;
        this._fetch = o.fetch || (typeof globalThis.fetch === 'function'
                                  ? (u, i) => globalThis.fetch(u, i) : null);
        this._urls = { eventsource: o.eventSourceUrl,
                       longpoll: o.longPollUrl };
        this._sendUrl = o.sendUrl || null;
        this._transports = (o.transports || TRANSPORTS).filter(
            (t) => this._available(t));

        if (this._transports.length === 0) {
            throw new TypeError('no WebSocket implementation: pass one as '
                                + 'options.WebSocket');
        }

        this._fallbackAfter = o.fallbackAfter || DEFAULT_FALLBACK_AFTER;
        this._upgradeInterval = o.upgradeInterval === undefined
                                ? DEFAULT_UPGRADE_INTERVAL
                                : o.upgradeInterval;
        this._pollTimeout = o.pollTimeout || DEFAULT_POLL_TIMEOUT;
        this._pollOpen = o.pollOpen === undefined ? DEFAULT_POLL_OPEN
                                                  : o.pollOpen;
        this._channel = o.channel || null;
        this._withCredentials = !!o.withCredentials;

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
        this._env = o.environment === undefined ? browserEnvironment()
                                                : o.environment;
        this._onlineJitter = o.onlineJitter === undefined
                             ? DEFAULT_ONLINE_JITTER : o.onlineJitter;
        this._lateTimer = o.lateTimer === undefined
                          ? DEFAULT_LATE_TIMER : o.lateTimer;
        this._highWaterMark = o.highWaterMark === undefined
                              ? DEFAULT_HIGH_WATER_MARK : o.highWaterMark;
        this._drainInterval = o.drainInterval || DEFAULT_DRAIN_INTERVAL;

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
        this._channels = new Map();           // runtime subscription -> refs
        this._own = new Set();                // those of subscribe()
        this._views = new Set();
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
        this._graceFrom = 0;
        this._closeRequest = null;
        this._offline = false;                // waiting for "online"
        this._unwatch = null;
        this._drainWaiters = [];
        this._drainTimer = null;
        this._tIndex = 0;                     // this._transports[]
        this._tFailures = 0;                  // its quick failures in a row
        this._upgradeTimer = null;
        this._probe = null;
        this._rawLastId = null;               // of a stream of no name

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
        return [...this._channels.keys()];
    }

    get queued() {
        return { messages: this._queue.length, bytes: this._queueBytes };
    }

    // Bytes not yet handed to the network: the socket's bufferedAmount and
    // the client's own queue.

    get bufferedAmount() {
        const ws = this._ws;
        const socket = ws !== null && typeof ws.bufferedAmount === 'number'
                       ? ws.bufferedAmount : 0;

        return socket + this._queueBytes;
    }

    // false while the client waits for the device to come online
    get online() {
        return !this._offline;
    }

    get socket() {
        return this._ws;
    }

    // "websocket", "eventsource" or "longpoll": the one in use or next
    get transport() {
        return this._transports[this._tIndex];
    }

    get transports() {
        return [...this._transports];
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
        this._setTransport(0, 'connect');
        this._watch();
        this._start();
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
        this._stopUpgrade();

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
            this._start();
        }
    }

    // Sends now when open, else queues: true; false (and an "error" event
    // with code "queue_full") when the queue is full or the client closed.
    // A socket that is already closing (its close event not yet seen)
    // would discard the message silently: it is queued instead.

    send(data) {
        return this._send(data) === null;
    }

    // send() that tells how much waits: the bytes of bufferedAmount after
    // it, or -1 when the message was refused.

    write(data) {
        return this._send(data) === null ? this.bufferedAmount : -1;
    }

    // send() for a producer that must not run ahead of the network: the
    // promise resolves (with bufferedAmount) once no more than "below"
    // bytes wait, and rejects with the error when the message is refused
    // or the client closes first.

    sendAsync(data, below = this._highWaterMark) {
        const error = this._send(data);

        if (error !== null) {
            return Promise.reject(error);
        }

        return this.drained(below);
    }

    drained(below = this._highWaterMark) {
        const amount = this.bufferedAmount;

        if (amount <= below) {
            return Promise.resolve(amount);
        }

        if (this._state === 'closed' || this._state === 'idle') {
            return Promise.reject(clientError('closed',
                                              'the client is closed'));
        }

        return new Promise((resolve, reject) => {
            this._drainWaiters.push({ below, resolve, reject });
            this._pollDrain();
        });
    }

    // A view: a part of the page with its own runtime subscriptions and
    // listeners, on this client's connection.

    view() {
        const v = new WsView(this);

        this._views.add(v);
        return v;
    }

    // Sends now or queues: null, or the error it reported.

    _send(data) {
        if (this._state === 'open' && this._ws.readyState === OPEN
            && this._ws.canSend !== false)
        {
            this._ws.send(data);
            return null;
        }

        const size = messageSize(data);
        const q = this._queueLimits;
        let error;

        if (this._state === 'closed' || this._state === 'idle') {
            error = clientError('closed', 'the client is closed', { data });
            this._emit('error', { error });
            return error;
        }

        if (this._queue.length + 1 > q.maxMessages
            || this._queueBytes + size > q.maxBytes)
        {
            error = clientError('queue_full',
                                'send queue full ('
                                + this._queue.length + ' messages, '
                                + this._queueBytes + ' bytes)',
                                { data });
            this._emit('error', { error });
            return error;
        }

        this._queue.push({ data, size });
        this._queueBytes += size;
        return null;
    }

    // Asks the server (a ws_pass application) to subscribe this connection
    // to a channel, now and after every reconnect.  While disconnected the
    // command is not queued: it is sent when the connection opens.

    subscribe(channel) {
        if (this._own.has(channel)) {
            return this._channels.has(channel) || this._acquire(channel);
        }

        this._own.add(channel);
        return this._acquire(channel);
    }

    // Drops what subscribe() took; the command goes when no view holds
    // the channel either.  A channel nobody subscribed to (one of the
    // location's own) gets the command.

    unsubscribe(channel) {
        if (this._own.delete(channel)) {
            return this._release(channel);
        }

        if (this._channels.has(channel)) {
            return true;                      /* a view still needs it */
        }

        return this.send(this._commands.unsubscribe(channel));
    }

    // One more holder of a runtime subscription: the command goes for the
    // first.

    _acquire(channel) {
        const refs = this._channels.get(channel) || 0;

        this._channels.set(channel, refs + 1);

        if (refs > 0) {
            return true;
        }

        if (this._state !== 'open' && this._resubscribe
            && this._state !== 'closed' && this._state !== 'idle')
        {
            return true;
        }

        return this.send(this._commands.subscribe(channel));
    }

    _release(channel) {
        const refs = this._channels.get(channel) || 0;

        if (refs > 1) {
            this._channels.set(channel, refs - 1);
            return true;
        }

        const runtime = this._channels.delete(channel);

        if (this._state !== 'open' && runtime && this._resubscribe
            && this._state !== 'closed' && this._state !== 'idle')
        {
            return true;                      /* it will not be renewed */
        }

        return this.send(this._commands.unsubscribe(channel));
    }

    _emit(type, ev) {
        emit(this._listeners, type, ev, this._setTimeout);
    }

    // Follows the browser (see browserEnvironment) while the client runs.

    _watch() {
        const env = this._env;

        if (env === null || this._unwatch !== null) {
            return;
        }

        const offs = [
            env.on('offline', () => this._wentOffline()),
            env.on('online', () => this._cameOnline()),
            env.on('visibilitychange', () => {
                if (env.visible()) {
                    this._wake();
                }
            }),
            env.on('resume', () => this._wake())      /* unfrozen */
        ];

        this._unwatch = () => offs.forEach((off) => off());
    }

    _stopWatching() {
        if (this._unwatch !== null) {
            this._unwatch();
            this._unwatch = null;
        }
    }

    _isOnline() {
        return this._env === null || this._env.online();
    }

    // Opens a socket, unless the device is offline: then waits for
    // "online".

    _start() {
        if (this._isOnline()) {
            this._open();
            return;
        }

        this._state = 'waiting';

        if (!this._offline) {
            this._offline = true;
            this._emit('offline', {});
        }
    }

    // The device lost its network: the socket cannot work (the browser
    // may not say so for minutes), no attempt is made until "online".

    _wentOffline() {
        if (this._state === 'waiting') {
            this._clearTimer('_retryTimer');
            this._start();
            return;
        }

        if (this._state === 'open' || this._state === 'connecting') {
            this._abandon(this._ws, { code: 1006, wasClean: false,
                                      reason: 'offline' });
        }
    }

    _cameOnline() {
        if (this._state !== 'waiting' || !this._offline) {
            return;
        }

        this._offline = false;
        this._emit('online', {});

        if (this._state !== 'waiting') {
            return;                           /* closed by a listener */
        }

        // a network that came back: the failures before do not count, the
        // jitter keeps the pages of one network apart
        this._attempt = 0;
        this._schedule(Math.floor(this._random() * this._onlineJitter));
    }

    // The page is visible again or was unfrozen: its timers may have been
    // held back for minutes.  An open connection is checked as after a
    // late timer; a pending reconnect happens now.

    _wake() {
        if (this._state === 'open') {
            this._armLiveness(true, true);
            return;
        }

        if (this._state === 'waiting' && this._retryTimer !== null) {
            this._clearTimer('_retryTimer');
            this._start();
        }
    }

    _pollDrain() {
        if (this._drainTimer !== null || this._state !== 'open') {
            return;                           /* _onOpen checks again */
        }

        this._drainTimer = this._setTimeout(() => {
            this._drainTimer = null;
            this._checkDrain();
        }, this._drainInterval);
    }

    _checkDrain() {
        if (this._drainWaiters.length === 0) {
            return;
        }

        const amount = this.bufferedAmount;

        this._drainWaiters = this._drainWaiters.filter((w) => {
            if (amount <= w.below) {
                w.resolve(amount);
                return false;
            }

            return true;
        });

        if (this._drainWaiters.length) {
            this._pollDrain();
        }
    }

    _clearTimer(name) {
        if (this[name] !== null) {
            this._clearTimeout(this[name]);
            this[name] = null;
        }
    }

    // Whether a transport can be used: its URL and implementation.

    _available(t) {
        switch (t) {
        case 'websocket':
            return typeof this._WebSocket === 'function';
        case 'eventsource':
            return !!this._urls.eventsource
                   && typeof this._EventSource === 'function';
        case 'longpoll':
            return !!this._urls.longpoll && typeof this._fetch === 'function';
        }

        return false;
    }

    _url(kind = this.transport) {
        const u = kind === 'websocket' ? this.url : this._urls[kind];
        const url = typeof u === 'function' ? u() : u;

        if (!this._resume) {
            return url;
        }

        let value = lastIdValue(this._lastIds, this._lastIdForm);

        if (value === null && kind !== 'websocket') {
            value = this._rawLastId;          /* ids of a stream of no name */
        }

        return withArgument(url, this._lastIdArg, value);
    }

    _makeSocket(kind, url) {
        if (kind === 'eventsource') {
            return new EventSourceSocket(this, url);
        }

        if (kind === 'longpoll') {
            return new LongPollSocket(this, url);
        }

        return this._protocols === undefined
               ? new this._WebSocket(url)
               : new this._WebSocket(url, this._protocols);
    }

    _open() {
        let url, ws;

        this._state = 'connecting';

        try {
            url = this._url();
            ws = this._makeSocket(this.transport, url);
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
        this._graceFrom = 0;

        this._emit('open', { url: this._openUrl, transport: this.transport });

        if (this._ws !== ws || this._state !== 'open') {
            return;                           /* closed by a listener */
        }

        if (this._tIndex > 0) {
            this._armUpgrade();
        }

        if (this._resubscribe && this.transport === 'websocket') {
            for (const channel of this._channels.keys()) {
                ws.send(this._commands.subscribe(channel));
            }
        }

        if (ws.canSend !== false) {           /* else the queue waits */
            const queue = this._queue;

            this._queue = [];
            this._queueBytes = 0;

            for (const m of queue) {
                ws.send(m.data);
            }
        }

        this._armLiveness();
        this._checkDrain();
    }

    _onMessage(ws, ev) {
        if (ws !== this._ws) {
            return;
        }

        this._lastReceived = this._now();

        if (ev.entry) {
            this._onEntry(ev.entry);          /* EventSource, long-poll */
            return;
        }

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
                this._lost(lost);
                return;
            }
        }

        const env = this._envelope ? parseEnvelope(data) : null;

        if (env === null) {
            this._emit('message', { data, binary: false });
            return;
        }

        this._deliver(env.channel, env.id, env.data, false);
    }

    _lost(lost) {
        this._lastIds.set(lost.channel, lost.first_id - 1);
        this._emitChannel('gap', lost.channel, {
            channel: lost.channel, lastId: lost.last_id,
            firstId: lost.first_id, reason: 'history_lost'
        });
    }

    _deliver(channel, id, data, binary) {
        const last = this._lastIds.get(channel);

        this._lastIds.set(channel, id);

        // 0 asks for the whole history: ids start at the channel's epoch,
        // and a history that lost its start says so with history_lost
        if (last !== undefined && last !== 0 && id !== last + 1) {
            this._emitChannel('gap', channel, {
                channel, lastId: last, firstId: id,
                reason: id > last ? 'skipped' : 'reset'
            });
        }

        this._emitChannel('message', channel, { data, binary, channel, id });
    }

    // A message of the EventSource or long-poll transport: { lost }, or
    // { data, binary } with "channel" and "id" (long-poll), "id" (an
    // EventSource stream of one channel) or "ids" (of several: the
    // channel is the one whose id moved) or "raw" (an id of no known
    // form).

    _onEntry(e) {
        if (e.lost) {
            this._lost(e.lost);
            return;
        }

        if (e.position !== undefined) {       /* where a long-poll ended */
            const ids = parseResumeReason('resume:' + e.position);

            if (ids === null) {
                this._rawLastId = e.position;
                return;
            }

            for (const [name, id] of ids) {
                this._lastIds.set(name, id);
            }

            return;
        }

        let channel = e.channel;
        let id = e.id;

        if (e.ids) {
            for (const [name, n] of e.ids) {
                if (channel === undefined && this._lastIds.get(name) !== n) {
                    channel = name;
                    id = n;
                }
            }

            for (const [name, n] of e.ids) {
                if (name !== channel) {
                    this._lastIds.set(name, n);
                }
            }
        } else if (channel === undefined && id !== undefined) {
            channel = this._streamChannel();
        }

        if (channel === undefined || channel === null || id === undefined) {
            if (e.raw !== undefined || (id !== undefined && channel === null)) {
                this._rawLastId = e.raw !== undefined ? e.raw : String(id);
            }

            this._emit('message', { data: e.data, binary: e.binary });
            return;
        }

        this._deliver(channel, id, e.data, e.binary);
    }

    // The channel of an EventSource stream whose ids carry no name: the
    // "channel" option, else the one channel whose id is known.

    _streamChannel() {
        if (this._channel !== null) {
            return this._channel;
        }

        return this._lastIds.size === 1 ? [...this._lastIds.keys()][0] : null;
    }

    // To the client's listeners, then to those of the views subscribed to
    // the channel.

    _emitChannel(type, channel, ev) {
        this._emit(type, ev);

        for (const v of [...this._views]) {
            if (v._channels.has(channel)) {
                v._emit(type, ev);
            }
        }
    }

    // Liveness: with a heartbeat, "message" goes out when nothing arrived
    // for "interval"; with idleTimeout, nothing arriving for that long
    // means the connection is dead.  Time is what the clock says when a
    // timer fires, never a count of timers.
    //
    // A timer that fires more than lateTimer ms after its time (a
    // background tab's timers run once a minute, a frozen page's not at
    // all) has not watched the connection meanwhile, and the page may not
    // have handled what arrived yet: the silence starts again from then,
    // as if the heartbeat's interval had just passed (the heartbeat goes
    // out now).  Once: if nothing arrives before the next timer, late or
    // not, the connection is dead.  With "probe" (the page is back), the
    // heartbeat goes out unless something arrived in the last lateTimer ms.

    _armLiveness(late = false, probe = false) {
        this._clearTimer('_liveTimer');

        if ((!this._idleTimeout && !this._heartbeat)
            || this.transport !== 'websocket')
        {
            return;                           /* the others watch their own */
        }

        const now = this._now();

        if (late && !(this._graceFrom > this._lastReceived)) {
            this._graceFrom = now - (this._heartbeat
                                     ? this._heartbeat.interval : 0);
        }

        const silent = now - Math.max(this._lastReceived, this._graceFrom);
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

            if (since >= hb.interval
                || (probe && now - this._lastReceived > this._lateTimer))
            {
                this._lastHeartbeat = now;

                if (this._ws.readyState === OPEN) {
                    this._ws.send(hb.message);
                }

                wait = Math.min(wait, hb.interval);
            } else {
                wait = Math.min(wait, hb.interval - since);
            }
        }

        const due = now + Math.max(wait, 1);

        this._liveTimer = this._setTimeout(() => {
            this._liveTimer = null;

            if (this._state === 'open') {
                this._armLiveness(this._now() - due > this._lateTimer);
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
        if (typeof ws.takeUnsent === 'function') {
            this._requeue(ws.takeUnsent());
        }

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

        if (typeof ws.takeUnsent === 'function') {
            this._requeue(ws.takeUnsent());
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

        this._fallback(ev, wasOpen);
        this._failed(ev);
    }

    // A transport that failed to open, or was cut before resetAfter,
    // fallbackAfter times in a row is left for the next one; after the
    // last, the first is tried again (the network itself may have failed).

    _fallback(ev, wasOpen) {
        if (this._transports.length < 2 || ev.reason === 'offline') {
            return;
        }

        if (wasOpen
            && this._now() - this._openedAt >= this._backoff.resetAfter)
        {
            this._tFailures = 0;
            return;
        }

        if (++this._tFailures < this._fallbackAfter) {
            return;
        }

        const last = this._tIndex === this._transports.length - 1;

        this._setTransport(last ? 0 : this._tIndex + 1,
                           last ? 'all failed' : 'failed');
    }

    _setTransport(i, reason) {
        const previous = this.transport;

        this._tIndex = i;
        this._tFailures = 0;
        this._stopUpgrade();

        if (previous !== this.transport) {
            this._emit('transport', { transport: this.transport, previous,
                                      reason });
        }
    }

    // On a fallback transport, the better ones are tried every
    // upgradeInterval ms: a probe connection that opens (then closed at
    // once) moves the client back to it.

    _armUpgrade() {
        if (this._upgradeTimer !== null || !(this._upgradeInterval > 0)) {
            return;
        }

        this._upgradeTimer = this._setTimeout(() => {
            this._upgradeTimer = null;
            this._tryUpgrade(0);
        }, this._upgradeInterval);
    }

    _stopUpgrade() {
        this._clearTimer('_upgradeTimer');

        if (this._probe !== null) {
            this._probe(false);
        }
    }

    _tryUpgrade(i) {
        if (this._state !== 'open' || this._tIndex === 0) {
            return;
        }

        if (i >= this._tIndex) {
            this._armUpgrade();
            return;
        }

        const kind = this._transports[i];

        if (kind === 'longpoll') {
            this._tryUpgrade(i + 1);
            return;
        }

        this._probeTransport(kind, (ok) => {
            if (!ok) {
                this._tryUpgrade(i + 1);
                return;
            }

            if (this._state === 'open' && i < this._tIndex) {
                this._setTransport(i, 'upgrade');
                this.reconnect();
            }
        });
    }

    _probeTransport(kind, done) {
        let s = null;
        let timer = null;

        const end = (ok) => {
            if (this._probe !== end) {
                return;
            }

            this._probe = null;
            this._clearTimeout(timer);

            if (s !== null) {
                s.onopen = s.onerror = s.onclose = null;

                try {
                    s.close();
                } catch (e) {
                    /* already closed */
                }
            }

            done(ok);
        };

        this._probe = end;

        try {
            const url = this._url(kind);

            if (kind === 'eventsource') {
                s = new this._EventSource(url, {
                    withCredentials: this._withCredentials
                });
            } else {
                s = this._protocols === undefined
                    ? new this._WebSocket(url)
                    : new this._WebSocket(url, this._protocols);
            }
        } catch (e) {
            this._probe = null;
            done(false);
            return;
        }

        s.onopen = () => end(true);
        s.onerror = () => end(false);
        s.onclose = () => end(false);
        timer = this._setTimeout(() => end(false),
                                 this._connectTimeout || 10000);
    }

    // Messages a transport had not sent when it was left go first when
    // the next one opens.

    _requeue(list) {
        if (list.length === 0) {
            return;
        }

        this._queue = list.concat(this._queue);
        this._queueBytes += list.reduce((n, m) => n + m.size, 0);
    }

    _failed(ev, restart) {
        if (restart === undefined
            && this._attempt >= this._backoff.maxAttempts)
        {
            this._emit('close', { ...ev, dead: !!ev.dead,
                                  willReconnect: false });
            this._state = 'closed';
            this._emit('giveup', { attempts: this._attempt });
            this._ended();
            return;
        }

        const delay = restart !== undefined
                      ? restart
                      : backoffDelay(this._attempt, this._backoff,
                                     this._random);

        this._state = 'waiting';
        this._emit('close', { ...ev, dead: !!ev.dead, willReconnect: true });

        if (this._state !== 'waiting') {
            return;                           /* closed by a listener */
        }

        if (!this._isOnline()) {
            this._start();                    /* no attempt until online */
            return;
        }

        this._schedule(delay);
    }

    _schedule(delay) {
        this._attempt++;
        this._state = 'waiting';
        this._emit('reconnecting', { attempt: this._attempt, delay });

        if (this._state !== 'waiting') {
            return;                           /* closed by a listener */
        }

        this._retryTimer = this._setTimeout(() => {
            this._retryTimer = null;

            if (this._state === 'waiting') {
                this._start();
            }
        }, delay);
    }

    _finish(ev) {
        this._state = 'closed';
        this._emit('close', { ...ev, dead: !!ev.dead, willReconnect: false });
        this._ended();
    }

    // Closed for good: the queue is reported, the waiting producers are
    // told, the browser's events are not followed any more.

    _ended() {
        this._offline = false;
        this._stopUpgrade();
        this._stopWatching();
        this._clearTimer('_drainTimer');
        this._dropQueue();

        const waiters = this._drainWaiters;

        this._drainWaiters = [];

        for (const w of waiters) {
            w.reject(clientError('closed', 'the client is closed'));
        }
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

// The bytes of a base64 string, as an ArrayBuffer.

export function fromBase64(text) {
    const bin = atob(text);
    const bytes = new Uint8Array(bin.length);

    for (let i = 0; i < bin.length; i++) {
        bytes[i] = bin.charCodeAt(i);
    }

    return bytes.buffer;
}

// An entry of a long-poll answer (docs/transports.md) as the client takes
// it (see WsClient._onEntry).

export function pollEntry(m) {
    if (m.event === 'history_lost') {
        return { lost: m.data };
    }

    return { channel: m.channel, id: m.id, binary: !!m.binary,
             data: m.binary ? fromBase64(m.data) : m.data };
}

// An EventSource event's id as the client takes it: "N" for a stream of
// one channel, "NAME=N,..." for several.

export function streamId(id) {
    if (/^[0-9]+$/.test(id)) {
        return { id: Number(id) };
    }

    const ids = id ? parseResumeReason('resume:' + id) : null;

    return ids ? { ids } : id ? { raw: id } : {};
}

// What the EventSource and long-poll transports share: the part of the
// WebSocket interface the client uses (readyState, send, close, bufferedAmount,
// url, the on* handlers), and sending with HTTP POST to the sendUrl
// option, one message at a time, in order.  Without sendUrl, canSend is
// false and what is sent waits in the client's queue for a WebSocket.

class HttpSocket {
    constructor(client, url) {
        this._client = client;
        this.url = url;
        this.readyState = 0;
        this.bufferedAmount = 0;
        this.canSend = client._sendUrl !== null;
        this.onopen = this.onmessage = this.onclose = this.onerror = null;
        this._out = [];                       // the first is in flight
        this._busy = false;
        this._taken = false;
    }

    send(data) {
        const size = messageSize(data);

        this._out.push({ data, size });
        this.bufferedAmount += size;
        this._pump();
    }

    close(code = 1000, reason = '') {
        if (this.readyState === 3) {
            return;
        }

        this.readyState = 3;
        this._stop();
        this._client._setTimeout(() => {
            if (this.onclose) {
                this.onclose({ code, reason, wasClean: true });
            }
        }, 0);
    }

    // What was not sent, for the next transport: a POST in flight goes on.

    takeUnsent() {
        const rest = this._out.slice(this._busy ? 1 : 0);

        this._out = this._out.slice(0, this._busy ? 1 : 0);
        this.bufferedAmount -= rest.reduce((n, m) => n + m.size, 0);
        this._taken = true;
        return rest;
    }

    _opened() {
        if (this.readyState !== 0) {
            return;
        }

        this.readyState = 1;

        if (this.onopen) {
            this.onopen({});
        }

        this._pump();
    }

    _entry(entry) {
        if (this.onmessage) {
            this.onmessage({ entry });
        }
    }

    _gone(code, reason) {
        if (this.readyState === 3) {
            return;
        }

        this.readyState = 3;
        this._stop();

        if (this.onclose) {
            this.onclose({ code, reason, wasClean: false });
        }
    }

    _pump() {
        if (this._busy || this._out.length === 0 || this.readyState !== 1) {
            return;
        }

        const c = this._client;
        const m = this._out[0];
        const url = typeof c._sendUrl === 'function' ? c._sendUrl(m.data)
                                                     : c._sendUrl;

        this._busy = true;

        c._fetch(url, {
            method: 'POST',
            body: m.data,
            credentials: c._withCredentials ? 'include' : 'same-origin',
            headers: { 'Content-Type': typeof m.data === 'string'
                                       ? 'text/plain; charset=utf-8'
                                       : 'application/octet-stream' }
        }).then((res) => {
            this._busy = false;
            this._out.shift();
            this.bufferedAmount -= m.size;

            if (!res.ok) {
                c._emit('error', {
                    error: clientError('send_failed', 'POST ' + url
                                       + ': ' + res.status,
                                       { data: m.data, status: res.status })
                });
            }

            this._pump();
        }, (e) => {
            // not known to have arrived: sent again, on this transport's
            // successor
            this._busy = false;

            if (!this._taken) {
                this._gone(1006, 'POST failed: ' + (e.message || e));
                return;
            }

            this._out.shift();
            this.bufferedAmount -= m.size;

            if (c._state !== 'closed' && c._state !== 'idle') {
                c._requeue([m]);
            }
        });
    }
}

// Server-Sent Events (ws_sse): the client's EventSource is closed on its
// first error, so that the client, not the browser, decides when and
// from where it reconnects.

class EventSourceSocket extends HttpSocket {
    constructor(client, url) {
        super(client, url);

        const es = new client._EventSource(url, {
            withCredentials: client._withCredentials
        });

        this._es = es;
        es.onopen = () => this._opened();
        es.onmessage = (e) => this._event(e, false);
        es.addEventListener('binary', (e) => this._event(e, true));
        es.addEventListener('history_lost', (e) => {
            const lost = parseHistoryLost(e.data);

            if (lost) {
                this._entry({ lost });
            }
        });
        es.onerror = () => this._gone(1006, es.readyState === 2
                                            ? 'EventSource refused'
                                            : 'EventSource cut');
    }

    _event(e, binary) {
        this._entry({ ...streamId(e.lastEventId), binary,
                      data: binary ? fromBase64(e.data) : e.data });
    }

    _stop() {
        const es = this._es;

        es.onopen = es.onmessage = es.onerror = null;
        es.close();
    }
}

// Long-polling (ws_longpoll): one GET after the other, each from the
// position the answer before gave.  The transport is open at its first
// answer, or once a poll has been held pollOpen ms (the server waits for
// a message: the request got through).

class LongPollSocket extends HttpSocket {
    constructor(client, url) {
        super(client, url);

        this._abort = null;
        this._timer = null;
        this._openTimer = null;

        if (client._pollOpen >= 0) {
            this._openTimer = client._setTimeout(() => {
                this._openTimer = null;
                this._opened();
            }, client._pollOpen);
        }

        this._poll(url);
    }

    _poll(url) {
        const c = this._client;
        const ac = typeof AbortController === 'function'
                   ? new AbortController() : null;

        this._abort = ac;
        this._timer = c._setTimeout(() => {
            this._timer = null;
            this._gone(1006, 'no answer after ' + c._pollTimeout + ' ms');
        }, c._pollTimeout);

        c._fetch(url, {
            method: 'GET',
            cache: 'no-store',
            credentials: c._withCredentials ? 'include' : 'same-origin',
            headers: { Accept: 'application/json' },
            signal: ac ? ac.signal : undefined
        }).then((res) => {
            if (!res.ok) {
                throw new Error('long-poll: ' + res.status);
            }

            return res.json();
        }).then((answer) => {
            if (this.readyState === 3) {
                return;
            }

            if (answer === null || !Array.isArray(answer.messages)) {
                throw new Error('long-poll: not an answer');
            }

            this._clearTimers();
            this._opened();

            for (const m of answer.messages) {
                if (this.readyState !== 1) {
                    return;
                }

                this._entry(pollEntry(m));
            }

            if (this.readyState !== 1) {
                return;
            }

            if (typeof answer.last_id === 'string' && answer.last_id) {
                this._entry({ position: answer.last_id });
            }

            if (this.readyState === 1) {
                this._poll(c._url('longpoll'));
            }
        }).catch((e) => {
            this._gone(1006, String(e.message || e));
        });
    }

    _clearTimers() {
        const c = this._client;

        for (const t of ['_timer', '_openTimer']) {
            if (this[t] !== null) {
                c._clearTimeout(this[t]);
                this[t] = null;
            }
        }
    }

    _stop() {
        this._clearTimers();

        if (this._abort !== null) {
            this._abort.abort();
        }
    }
}

// Calls the listeners of "type"; one that throws does not stop the others.

function emit(listeners, type, ev, setTimeoutFn) {
    const set = listeners.get(type);

    if (!set) {
        return;
    }

    for (const fn of [...set]) {
        try {
            fn(ev);
        } catch (e) {
            /* a listener's bug must not break the client: report it the
             * way an uncaught error would be */
            setTimeoutFn(() => { throw e; }, 0);
        }
    }
}

// A part of a page on the client's connection (client.view()): its own
// runtime subscriptions, counted with those of the other views so that a
// channel's subscribe command goes once and its unsubscribe command only
// when no view holds it any more, and its own "message" and "gap"
// listeners, which get only its channels' messages.

export class WsView {
    constructor(client) {
        this._client = client;
        this._channels = new Set();
        this._listeners = new Map();
        this._closed = false;
    }

    get client() {
        return this._client;
    }

    get channels() {
        return [...this._channels];
    }

    subscribe(channel) {
        if (this._closed || this._channels.has(channel)) {
            return !this._closed;
        }

        this._channels.add(channel);
        return this._client._acquire(channel);
    }

    unsubscribe(channel) {
        if (!this._channels.delete(channel)) {
            return true;
        }

        return this._client._release(channel);
    }

    // Leaves all its channels and drops its listeners; the connection
    // stays for the other views.

    close() {
        for (const channel of [...this._channels]) {
            this.unsubscribe(channel);
        }

        this._closed = true;
        this._listeners.clear();
        this._client._views.delete(this);
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

    _emit(type, ev) {
        emit(this._listeners, type, ev, this._client._setTimeout);
    }
}
