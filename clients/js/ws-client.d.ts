// Types of ws-client.js, the client of ngx_ws_module's channels.
// Reference: docs/client.md.

/** What the client needs of a WebSocket: the browser's, or Node's `ws`. */
export interface WebSocketLike {
    binaryType?: string;
    onopen: ((ev: unknown) => void) | null;
    onmessage: ((ev: { data: unknown }) => void) | null;
    onerror: ((ev: unknown) => void) | null;
    onclose: ((ev: { code: number; reason: string;
                     wasClean: boolean }) => void) | null;
    send(data: string | ArrayBufferLike | ArrayBufferView | Blob): void;
    /** bytes handed to send() and not yet sent on the network */
    readonly bufferedAmount?: number;
    close(code?: number, reason?: string): void;
    terminate?(): void;
}

export interface WebSocketConstructor {
    new (url: string, protocols?: string | string[]): WebSocketLike;
}

export interface BackoffOptions {
    /** ms; the ceiling of the first retry's wait (default 500) */
    base?: number;
    /** ms; no wait is longer (default 30000) */
    max?: number;
    /** the ceiling grows by this factor per failure (default 2) */
    factor?: number;
    /** consecutive failures before "giveup" (default Infinity) */
    maxAttempts?: number;
    /** ms a connection must stay open to reset the failures (default 5000) */
    resetAfter?: number;
}

export interface QueueOptions {
    /** messages held while not connected (default 1000) */
    maxMessages?: number;
    /** bytes held while not connected (default 1048576) */
    maxBytes?: number;
}

export interface HeartbeatOptions {
    /** ms without anything received before the heartbeat is sent */
    interval: number;
    /** what is sent (default "ping") */
    message?: string | ArrayBufferLike | ArrayBufferView;
    /** which received messages answer it and are not given to the
     *  application (default: equal to message, as an echo is) */
    isReply?: (data: string) => boolean;
}

export interface Timers {
    setTimeout(f: () => void, ms: number): unknown;
    clearTimeout(t: unknown): void;
    now(): number;
}

/**
 * The browser around the client (default: window, navigator.onLine and
 * document.visibilityState; null in Node): the client waits while
 * offline and checks its connection when the page is visible again.
 */
export interface Environment {
    online(): boolean;
    visible(): boolean;
    /** returns a function that removes the listener */
    on(type: 'online' | 'offline' | 'visibilitychange' | 'resume',
       fn: () => void): () => void;
}

export type LastIdForm = 'auto' | 'plain' | 'channels';

export interface CloseInfo {
    code: number;
    reason: string;
    wasClean: boolean;
}

export type Transport = 'websocket' | 'eventsource' | 'longpoll';

export interface EventSourceLike {
    readonly readyState: number;
    onopen: ((ev: unknown) => void) | null;
    onmessage: ((ev: { data: string; lastEventId: string }) => void) | null;
    onerror: ((ev: unknown) => void) | null;
    addEventListener(type: string,
                     fn: (ev: { data: string; lastEventId: string }) => void)
        : void;
    close(): void;
}

export interface EventSourceConstructor {
    new (url: string, init?: { withCredentials?: boolean }): EventSourceLike;
}

export interface WsClientOptions {
    WebSocket?: WebSocketConstructor;
    /** the ws_sse location: the fallback when WebSockets fail */
    eventSourceUrl?: string | (() => string);
    /** the ws_longpoll location: the fallback after EventSource */
    longPollUrl?: string | (() => string);
    /** where a message is POSTed without a WebSocket (ws_publisher, app) */
    sendUrl?: string | ((data: unknown) => string);
    /** allowed, best first (default all three that have a URL) */
    transports?: Transport[];
    /** quick failures in a row before the next transport (default 2) */
    fallbackAfter?: number;
    /** ms on a fallback before the better one is probed (60000; 0 never) */
    upgradeInterval?: number;
    /** ms: a long-poll without an answer is given up (default 60000) */
    pollTimeout?: number;
    /** ms a first poll is held before the transport counts as open (1000) */
    pollOpen?: number;
    /** the channel of an EventSource stream of one channel */
    channel?: string;
    /** EventSource, long-poll and POST with credentials (cross-origin) */
    withCredentials?: boolean;
    EventSource?: EventSourceConstructor;
    fetch?: (url: string, init?: any) => Promise<{
        ok: boolean; status: number; json(): Promise<any>
    }>;
    protocols?: string | string[];
    autoConnect?: boolean;
    backoff?: BackoffOptions;
    queue?: QueueOptions;
    connectTimeout?: number;
    closeTimeout?: number;
    idleTimeout?: number;
    heartbeat?: HeartbeatOptions;
    envelope?: boolean;
    resume?: boolean;
    lastIdArgument?: string;
    lastIdForm?: LastIdForm;
    lastIds?: Record<string, number>;
    resubscribe?: boolean;
    commands?: {
        subscribe?: (channel: string) => string | ArrayBufferLike;
        unsubscribe?: (channel: string) => string | ArrayBufferLike;
    };
    shouldReconnect?: (ev: CloseInfo & { dead?: boolean }) => boolean;
    /**
     * ms: after Close 1012 (Service Restart: a reload) the client
     * reconnects after a random wait below this, not the backoff;
     * default 1000
     */
    restartJitter?: number;
    random?: () => number;
    timers?: Partial<Timers>;
    /** null: ignore the browser (always online and visible) */
    environment?: Environment | null;
    /** ms: the most to wait before reconnecting on "online" (default 500) */
    onlineJitter?: number;
    /**
     * ms: a liveness timer that fires this much later than due was held
     * back (a background tab): the silence is measured again from then,
     * once (default 1000)
     */
    lateTimer?: number;
    /** bytes: sendAsync() and drained() resolve at or below (65536) */
    highWaterMark?: number;
    /** ms between looks at bufferedAmount while a producer waits (20) */
    drainInterval?: number;
}

export interface OpenEvent {
    url: string;
    transport: Transport;
}

export interface TransportEvent {
    transport: Transport;
    previous: Transport;
    /** failed, all failed (back to the first), upgrade, connect */
    reason: string;
}

export interface MessageEvent {
    /** the message; for an envelope its "data" */
    data: string | ArrayBuffer | Blob | unknown;
    binary: boolean;
    /** with the envelope only */
    channel?: string;
    id?: number;
}

export interface GapEvent {
    channel: string;
    /** the last id the client had */
    lastId: number;
    /** the first id it gets (or will get) after the gap */
    firstId: number;
    reason: 'history_lost' | 'skipped' | 'reset';
}

export interface CloseEvent extends CloseInfo {
    /** no traffic for idleTimeout: the client gave the socket up */
    dead: boolean;
    willReconnect: boolean;
}

export interface ReconnectingEvent {
    /** 1 for the first retry after a failure */
    attempt: number;
    /** ms until it */
    delay: number;
}

export interface ClientError extends Error {
    code: 'queue_full' | 'closed' | 'not_sent' | 'socket' | 'send_failed'
        | string;
    /** send_failed: the HTTP status of the POST */
    status?: number;
    /** queue_full, closed: the message that was refused */
    data?: unknown;
    /** not_sent: the messages that were queued */
    messages?: unknown[];
    /** socket: the WebSocket's error event */
    event?: unknown;
}

export interface WsClientEvents {
    open: OpenEvent;
    message: MessageEvent;
    gap: GapEvent;
    close: CloseEvent;
    reconnecting: ReconnectingEvent;
    giveup: { attempts: number };
    /** the device went offline: no attempt until it is online again */
    offline: Record<string, never>;
    /** it is back: a reconnect follows after a jitter */
    online: Record<string, never>;
    error: { error: ClientError | Error };
    /** the client moved to another transport */
    transport: TransportEvent;
}

export type WsClientState =
    'idle' | 'connecting' | 'open' | 'waiting' | 'closing' | 'closed';

export class WsClient {
    constructor(url: string | (() => string), options?: WsClientOptions);

    readonly url: string | (() => string);
    readonly state: WsClientState;
    readonly lastIds: Record<string, number>;
    readonly channels: string[];
    readonly queued: { messages: number; bytes: number };
    readonly socket: WebSocketLike | null;
    /** the transport in use (or the next attempt's) */
    readonly transport: Transport;
    /** those it may use, best first */
    readonly transports: Transport[];
    /** the socket's bufferedAmount plus the queue's bytes */
    readonly bufferedAmount: number;
    /** false while waiting for the device to come online */
    readonly online: boolean;

    on<K extends keyof WsClientEvents>(
        type: K, fn: (ev: WsClientEvents[K]) => void): () => void;
    once<K extends keyof WsClientEvents>(
        type: K, fn: (ev: WsClientEvents[K]) => void): () => void;
    off<K extends keyof WsClientEvents>(
        type: K, fn: (ev: WsClientEvents[K]) => void): void;

    connect(): void;
    close(code?: number, reason?: string): void;
    reconnect(): void;
    send(data: string | ArrayBufferLike | ArrayBufferView | Blob): boolean;
    /** send() returning bufferedAmount after it, -1 when refused */
    write(data: string | ArrayBufferLike | ArrayBufferView | Blob): number;
    /**
     * send(), then resolves with bufferedAmount once it is at most
     * `below` (default highWaterMark); rejects with the ClientError when
     * refused or when the client closes first
     */
    sendAsync(data: string | ArrayBufferLike | ArrayBufferView | Blob,
              below?: number): Promise<number>;
    /** resolves once bufferedAmount is at most `below` */
    drained(below?: number): Promise<number>;
    subscribe(channel: string): boolean;
    unsubscribe(channel: string): boolean;
    /** a view: its own subscriptions and listeners on this connection */
    view(): WsView;
}

export interface WsViewEvents {
    message: MessageEvent;
    gap: GapEvent;
}

export class WsView {
    private constructor();
    readonly client: WsClient;
    /** its subscriptions */
    readonly channels: string[];
    /** the command is sent only for the first view (or client) to hold it */
    subscribe(channel: string): boolean;
    /** the command is sent only when no view (or client) holds it */
    unsubscribe(channel: string): boolean;
    /** unsubscribes all its channels and drops its listeners */
    close(): void;
    on<K extends keyof WsViewEvents>(
        type: K, fn: (ev: WsViewEvents[K]) => void): () => void;
    off<K extends keyof WsViewEvents>(
        type: K, fn: (ev: WsViewEvents[K]) => void): void;
}

export function browserEnvironment(g?: unknown): Environment | null;

export function backoffDelay(attempt: number, backoff?: BackoffOptions,
                             random?: () => number): number;
export function lastIdValue(lastIds: Map<string, number>,
                            form?: LastIdForm): string | null;
export function withArgument(url: string, name: string,
                             value: string | null): string;
export function parseEnvelope(text: string):
    { channel: string; id: number; data: string } | null;
export function parseHistoryLost(text: string):
    { event: 'history_lost'; channel: string; last_id: number;
      first_id: number } | null;
export function parseResumeReason(reason: string):
    Map<string, number> | null;
export function messageSize(data: unknown): number;
export function fromBase64(text: string): ArrayBuffer;
export function pollEntry(m: unknown): object;
export function streamId(id: string): object;
