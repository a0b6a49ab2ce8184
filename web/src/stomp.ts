/**
 * The one STOMP connection of a signed-in page: @stomp/stompjs over a native WebSocket.
 *
 * Each attempt fetches a fresh single-use ticket and builds a new stompjs Client, so the
 * reconnect loop (backoff, "reconnect now", going back online) lives here and can tell the page
 * exactly what it is doing. After every (re)connect each watched room is subscribed again with
 * `x-since-seq`: the server replays what was missed and the timeline de-duplicates by seq.
 *
 * "Connected" is shown only while the socket is known to work: the browser going offline
 * closes it at once, a page that wakes from sleep shows "checking" until a probe is answered,
 * and a probe left unanswered for one heart-beat interval closes it and reconnects
 * (liveness.ts has the rules).
 */

import { Client, type IMessage, type StompSubscription, Versions } from '@stomp/stompjs';
import { ApiError } from './api';
import { sentence } from './forms';
import { Liveness, TICK_MS, probeInterval, type Verdict } from './liveness';
import type { Notification, QueueError, RoomEvent } from './types';

export type ConnectionState =
  /** `reconnecting`: this page had a working connection before (it dropped or was closed). */
  | { status: 'connecting'; attempt: number; reconnecting: boolean }
  | { status: 'connected' }
  /** The page woke from sleep: the socket may be dead; a probe is on its way. */
  | { status: 'checking' }
  | { status: 'waiting'; retryAt: number; reason: string }
  | { status: 'stopped' };

export interface RoomListener {
  /** Resubscribe from here; null subscribes without a replay. */
  sinceSeq(): number | null;
  onEvent(event: RoomEvent, replayed: boolean): void;
  /** The server refused the subscription (not a member any more, room gone). */
  onDenied(message: string): void;
}

export interface ConnectionOptions {
  wsUrl: string;
  fetchTicket(): Promise<string>;
  onState(state: ConnectionState): void;
  onNotification(note: Notification): void;
  /** The access token no longer works: the person has to sign in again. */
  onSessionEnded(): void;
  /** A refused request that belongs to no pending send, in words. */
  onProblem(message: string): void;
}

export class SendFailed extends Error {
  constructor(
    message: string,
    /** True when the connection, not the server, failed: resending on reconnect is safe. */
    readonly connectionLost: boolean,
  ) {
    super(message);
    this.name = 'SendFailed';
  }
}

export interface Stored {
  seq: number;
  duplicate: boolean;
}

interface Waiting {
  resolve(value: Stored): void;
  reject(error: SendFailed): void;
  timer: ReturnType<typeof setTimeout>;
}

const RECEIPT_TIMEOUT_MS = 15_000;
/** The heart-beat the client offers in CONNECT; the server's answer may make it longer. */
const HEARTBEAT_OFFER_MS = 10_000;
const MAX_BACKOFF_MS = 30_000;
const ERRORS = '/user/queue/errors';
const NOTIFICATIONS = '/user/queue/notifications';
/** The ERROR the server sends before closing a socket whose token was revoked. */
const REVOKED = /token has been revoked/;

export class Connection {
  private client: Client | null = null;
  private live = false;
  private stopped = true;
  private attempt = 0;
  /** Counts opens, so that only the newest of overlapping attempts goes on to connect. */
  private opens = 0;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  private lastError = '';
  private receipts = 0;
  private readonly rooms = new Map<string, RoomListener>();
  private readonly subs = new Map<string, StompSubscription>();
  private readonly waiting = new Map<string, Waiting>();
  private liveness: Liveness | null = null;
  private livenessTimer: ReturnType<typeof setInterval> | null = null;
  /** Both queues confirmed: the state shown may be `connected`. */
  private confirmed = false;
  private everConnected = false;
  private hiddenAt: number | null = null;
  /** The status last told to the page. */
  private shown: ConnectionState['status'] | null = null;
  private readonly onOnline = (): void => this.reconnectNow();
  private readonly onOffline = (): void => this.lost('Your device is offline.', false);
  private readonly onResume = (): void => this.woke();
  private readonly onVisibility = (): void => {
    if (document.visibilityState === 'hidden') {
      this.hiddenAt = Date.now();
      return;
    }
    const hiddenFor = this.hiddenAt === null ? 0 : Date.now() - this.hiddenAt;
    this.hiddenAt = null;
    if (hiddenFor >= (this.liveness?.interval ?? HEARTBEAT_OFFER_MS)) this.woke();
  };

  constructor(private readonly opts: ConnectionOptions) {}

  get connected(): boolean {
    return this.live;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    window.addEventListener('online', this.onOnline);
    window.addEventListener('offline', this.onOffline);
    document.addEventListener('resume', this.onResume);
    document.addEventListener('visibilitychange', this.onVisibility);
    void this.open();
  }

  stop(): void {
    this.stopped = true;
    window.removeEventListener('online', this.onOnline);
    window.removeEventListener('offline', this.onOffline);
    document.removeEventListener('resume', this.onResume);
    document.removeEventListener('visibilitychange', this.onVisibility);
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    const client = this.client;
    this.client = null;
    this.dropped('You signed out.');
    if (client) void client.deactivate();
    this.emit({ status: 'stopped' });
  }

  /** Skip the backoff wait (the person asked, or the browser came back online). */
  reconnectNow(): void {
    if (this.stopped || this.client) return;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    void this.open();
  }

  /**
   * The access token was replaced (a password change): the server refuses frames under the
   * old one from now on, so move to a connection opened with a ticket from the new token.
   * Sends in flight fail as "connection lost" and are sent again once it is back.
   */
  renew(): void {
    if (this.stopped) return;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    const client = this.client;
    this.client = null;
    this.dropped('The connection was renewed for your new password.');
    if (client) void client.deactivate();
    void this.open();
  }

  watchRoom(roomId: string, listener: RoomListener): void {
    this.rooms.set(roomId, listener);
    if (this.live && !this.subs.has(roomId)) this.subscribeRoom(roomId, listener);
  }

  unwatchRoom(roomId: string): void {
    this.rooms.delete(roomId);
    const sub = this.subs.get(roomId);
    this.subs.delete(roomId);
    if (sub && this.live) sub.unsubscribe();
  }

  watching(roomId: string): boolean {
    return this.rooms.has(roomId);
  }

  /** Resolves with the stored seq once the RECEIPT arrives (the message is in PostgreSQL). */
  send(roomId: string, body: string, clientMsgId: string): Promise<Stored> {
    const client = this.client;
    if (!client || !this.live) {
      return Promise.reject(new SendFailed('Not sent: there is no connection right now.', true));
    }
    this.receipts += 1;
    const receiptId = `m-${this.receipts}`;
    return new Promise<Stored>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(receiptId);
        reject(new SendFailed('Not confirmed by the server in time.', false));
      }, RECEIPT_TIMEOUT_MS);
      this.waiting.set(receiptId, { resolve, reject, timer });
      client.watchForReceipt(receiptId, (frame) => {
        const w = this.waiting.get(receiptId);
        if (!w) return;
        this.waiting.delete(receiptId);
        clearTimeout(w.timer);
        const seq = Number(frame.headers['x-seq']);
        if (!Number.isInteger(seq)) {
          w.reject(new SendFailed('The server did not say where it stored the message.', false));
          return;
        }
        w.resolve({ seq, duplicate: frame.headers['x-duplicate'] === 'true' });
      });
      client.publish({
        destination: `/app/rooms/${roomId}`,
        headers: { receipt: receiptId, 'content-type': 'application/json' },
        body: JSON.stringify({ body, clientMsgId }),
      });
    });
  }

  typing(roomId: string): void {
    if (this.client && this.live && this.subs.has(roomId)) {
      this.client.publish({ destination: `/app/rooms/${roomId}/typing`, body: '' });
    }
  }

  // -- the connection loop ----------------------------------------------------------------

  private async open(): Promise<void> {
    this.attempt += 1;
    this.opens += 1;
    const thisOpen = this.opens;
    this.emit({ status: 'connecting', attempt: this.attempt, reconnecting: this.everConnected });
    let ticket: string;
    try {
      ticket = await this.opts.fetchTicket();
    } catch (err) {
      if (this.stopped || thisOpen !== this.opens) return;
      if (err instanceof ApiError && err.status === 401) {
        this.stop();
        this.opts.onSessionEnded();
        return;
      }
      this.scheduleRetry(err instanceof Error ? err.message : 'The server could not be reached.');
      return;
    }
    if (this.stopped || thisOpen !== this.opens) return;
    const url = new URL(this.opts.wsUrl);
    url.searchParams.set('ticket', ticket);
    const client = new Client({
      webSocketFactory: () => probingSocket(url.toString()),
      reconnectDelay: 0,
      heartbeatIncoming: 0,
      // Offered so the server says its interval; the probes of liveness.ts replace the EOLs.
      heartbeatOutgoing: HEARTBEAT_OFFER_MS,
      connectionTimeout: 10_000,
      debug: () => undefined,
    });
    this.client = client;
    this.lastError = '';
    client.onConnect = (frame) => {
      if (this.client !== client) return;
      this.live = true;
      this.attempt = 0;
      this.startLiveness(client, probeInterval(HEARTBEAT_OFFER_MS, frame.headers['heart-beat']));
      // The server may handle the frames of one connection in any order, so "connected" is
      // shown only once both queues are confirmed stored (their RECEIPTs): a removal notice
      // sent before that would otherwise be lost.
      let unconfirmed = 2;
      const confirmed = (): void => {
        unconfirmed -= 1;
        if (unconfirmed === 0 && this.client === client) {
          this.confirmed = true;
          this.everConnected = true;
          this.showLive();
        }
      };
      const queues: [string, string, (m: IMessage) => void][] = [
        ['errors', ERRORS, (m) => this.onQueueError(m)],
        ['notifications', NOTIFICATIONS, (m) => this.onNotification(m)],
      ];
      for (const [id, destination, handler] of queues) {
        const receipt = `sub-${id}-${Date.now()}`;
        client.watchForReceipt(receipt, confirmed);
        client.subscribe(destination, handler, { id, receipt });
      }
      for (const [roomId, listener] of this.rooms) this.subscribeRoom(roomId, listener);
    };
    let revoked = false;
    client.onStompError = (frame) => {
      this.lastError = sentence(frame.headers.message ?? '') || 'The server closed the connection.';
      revoked = REVOKED.test(frame.headers.message ?? '');
    };
    client.onWebSocketClose = () => {
      if (this.client !== client) return;
      this.client = null;
      void client.deactivate();
      this.dropped('The connection was lost before the server confirmed it.');
      if (this.stopped) return;
      // The server closes a socket whose token was revoked at once. Ask for a ticket at once
      // too, not after a backoff shown as "Offline": during this page's own password change
      // the Api waits for the new token and asks with it; otherwise the refusal ends the session.
      if (revoked) void this.open();
      else this.scheduleRetry(this.lastError || 'The connection was lost.');
    };
    client.activate();
  }

  private dropped(reason: string): void {
    this.live = false;
    this.confirmed = false;
    this.stopLiveness();
    this.subs.clear();
    for (const [id, w] of this.waiting) {
      clearTimeout(w.timer);
      w.reject(new SendFailed(reason, true));
      this.waiting.delete(id);
    }
  }

  // -- liveness -------------------------------------------------------------------------

  private startLiveness(client: Client, interval: number): void {
    this.stopLiveness();
    this.liveness = new Liveness(interval, Date.now());
    this.livenessTimer = setInterval(() => {
      if (this.liveness && this.client === client) this.apply(client, this.liveness.tick(Date.now()));
    }, TICK_MS);
  }

  private stopLiveness(): void {
    if (this.livenessTimer) clearInterval(this.livenessTimer);
    this.livenessTimer = null;
    this.liveness = null;
  }

  private apply(client: Client, verdict: Verdict): void {
    if (verdict.action === 'dead') {
      this.lost('The connection stopped answering.', true);
    } else if (verdict.action === 'probe') {
      const liveness = this.liveness;
      client.watchForReceipt(verdict.receipt, () => {
        if (liveness === this.liveness && liveness?.answered(verdict.receipt)) this.showLive();
      });
      // ACK with a receipt: the server answers with a RECEIPT and does nothing else.
      client.ack('probe', 'probe', { receipt: verdict.receipt });
    }
    this.showLive();
  }

  /** `connected`, or `checking` while a probe after a wake is unanswered; told on a change only. */
  private showLive(): void {
    if (!this.confirmed || !this.live) return;
    const status = this.liveness?.checking ? 'checking' : 'connected';
    if (status === this.shown) return;
    this.emit({ status });
  }

  private emit(state: ConnectionState): void {
    this.shown = state.status;
    this.opts.onState(state);
  }

  /** A wake from sleep: probe a live socket at once; skip the backoff wait of a dead one. */
  private woke(): void {
    if (this.stopped) return;
    if (this.client && this.liveness) this.apply(this.client, this.liveness.woke(Date.now()));
    else this.reconnectNow();
  }

  /** The socket is gone or useless: close it, and reconnect now or after the backoff. */
  private lost(reason: string, reconnectNow: boolean): void {
    if (this.stopped) return;
    const client = this.client;
    if (!client) return;
    this.client = null;
    this.dropped(reason);
    void client.deactivate({ force: true });
    if (reconnectNow) void this.open();
    else this.scheduleRetry(reason);
  }

  private scheduleRetry(reason: string): void {
    const base = Math.min(MAX_BACKOFF_MS, 1000 * 2 ** Math.max(0, this.attempt - 1));
    const delay = Math.round(base * (0.5 + Math.random() / 2));
    this.emit({ status: 'waiting', retryAt: Date.now() + delay, reason });
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      void this.open();
    }, delay);
  }

  private subscribeRoom(roomId: string, listener: RoomListener): void {
    const client = this.client;
    if (!client) return;
    const headers: Record<string, string> = { id: `room-${roomId}` };
    const since = listener.sinceSeq();
    if (since !== null) headers['x-since-seq'] = String(since);
    const sub = client.subscribe(
      `/topic/rooms/${roomId}`,
      (m) => {
        const event = parse<RoomEvent>(m);
        if (event) listener.onEvent(event, m.headers['x-replay'] === 'true');
      },
      headers,
    );
    this.subs.set(roomId, sub);
  }

  private onNotification(m: IMessage): void {
    const note = parse<Notification>(m);
    if (!note) return;
    // The server has dropped this connection's subscriptions to a room it lost.
    if (note.type === 'removed_from_room' || note.type === 'room_deleted') this.subs.delete(note.roomId);
    this.opts.onNotification(note);
  }

  private onQueueError(m: IMessage): void {
    const err = parse<QueueError>(m);
    if (!err) return;
    const text = queueErrorText(err);
    const w = err.receiptId ? this.waiting.get(err.receiptId) : undefined;
    if (w && err.receiptId) {
      this.waiting.delete(err.receiptId);
      clearTimeout(w.timer);
      w.reject(new SendFailed(text, false));
      return;
    }
    const dest = err.destination ?? '';
    const room = /^\/topic\/rooms\/([^/]+)$/.exec(dest)?.[1];
    if (room) {
      this.subs.delete(room);
      this.rooms.get(room)?.onDenied(text);
      return;
    }
    if (dest.endsWith('/typing')) return;
    this.opts.onProblem(text);
  }
}

export function queueErrorText(err: QueueError): string {
  switch (err.code) {
    case 'rate-limited':
      return `You are sending too fast. Wait ${err.retryAfter ?? 'a few'} seconds and try again.`;
    case 'unavailable':
      return 'The server is busy right now. Try again in a moment.';
    case 'not-found':
      return 'This room does not exist or you are not a member of it.';
    default: {
      const text = err.message || 'The server refused the request.';
      return text.charAt(0).toUpperCase() + text.slice(1) + (/[.!?]$/.test(text) ? '' : '.');
    }
  }
}

function parse<T>(m: IMessage): T | null {
  try {
    return JSON.parse(m.body) as T;
  } catch {
    return null;
  }
}

/**
 * A WebSocket that drops stompjs' bare EOL heart-beats: the probes (liveness.ts) take their
 * place at the same interval, so the server sees no more messages than before.
 */
function probingSocket(url: string): WebSocket {
  const ws = new WebSocket(url, Versions.default.protocolVersions());
  const send = ws.send.bind(ws);
  ws.send = (data) => {
    if (data === '\n') return;
    send(data);
  };
  return ws;
}
