/**
 * One room's timeline: stored events ordered and de-duplicated by `seq`, plus the messages this
 * client is still sending. Pure data, no DOM and no network, so the rules that make the chat
 * show "nothing twice and nothing missing" are unit-tested on their own.
 *
 * Delivery of an own message: `sending` until the server's RECEIPT carries its `seq`, then
 * `stored`; `failed` when the send was refused, timed out or the connection dropped. A retry
 * reuses the clientMsgId, so the server stores it at most once.
 *
 * A stored message carries the `clientMsgId` it was sent with, so the stored copy settles its
 * pending send whatever state that is in and however it arrives (live, replay, history): after
 * an outage the RECEIPT may never come although the message was stored, and without the match
 * the page would show it twice, once "Sent" and once "Not sent".
 */

import type { Message, Page } from './types';

export type Delivery = 'sending' | 'stored' | 'failed';

export interface PendingSend {
  clientMsgId: string;
  body: string;
  state: Delivery;
  /** Why it failed, in words for the person who sent it. */
  error?: string;
  /** The seq the server stored it under (from the RECEIPT) or that it probably is. */
  seq?: number;
  /** The seq guessed from an own MESSAGE that arrived before the RECEIPT. */
  matchedSeq?: number;
}

export type Row =
  | { kind: 'stored'; key: string; message: Message; delivery: Delivery | null }
  | { kind: 'pending'; key: string; pending: PendingSend };

export class Timeline {
  private readonly bySeq = new Map<number, Message>();
  private seqs: number[] = [];
  private readonly pending = new Map<string, PendingSend>();
  private readonly receipted = new Set<number>();
  private contiguous: number;
  /** Cursor for the next older page; null once the oldest message is loaded. */
  nextBefore: number | null = null;
  historyLoaded = false;

  constructor(
    readonly roomId: string,
    private readonly myId: string,
    baselineSeq = 0,
  ) {
    this.contiguous = baselineSeq;
  }

  /** The seq to resubscribe from: every event up to it is known (seqs are dense per room). */
  get sinceSeq(): number {
    return this.contiguous;
  }

  get size(): number {
    return this.seqs.length;
  }

  get newestSeq(): number {
    return Math.max(this.contiguous, this.seqs[this.seqs.length - 1] ?? 0);
  }

  get oldestSeq(): number | null {
    return this.seqs[0] ?? null;
  }

  has(seq: number): boolean {
    return this.bySeq.has(seq);
  }

  get(seq: number): Message | undefined {
    return this.bySeq.get(seq);
  }

  /** Add a stored event; returns false when its seq was already known (a duplicate). */
  add(message: Message): boolean {
    const known = this.bySeq.get(message.seq);
    if (known) {
      if (isNewerVersion(message, known)) this.bySeq.set(message.seq, message);
      return false;
    }
    this.bySeq.set(message.seq, message);
    insertSorted(this.seqs, message.seq);
    this.settlePending(message);
    this.advance();
    return true;
  }

  /** An edit or delete of a stored message; ignored when that message is not loaded. */
  update(message: Message): boolean {
    const known = this.bySeq.get(message.seq);
    if (!known) return false;
    this.bySeq.set(message.seq, { ...known, ...message, type: known.type });
    return true;
  }

  /** Merge a history page; `newest` pages (no cursor) also set where older pages start. */
  addPage(page: Page, kind: 'newest' | 'older' | 'newer'): number {
    let added = 0;
    for (const m of page.items) if (this.add(m)) added += 1;
    if (kind === 'newest') {
      const top = page.items[page.items.length - 1]?.seq ?? 0;
      this.contiguous = Math.max(this.contiguous, top);
      this.advance();
      this.nextBefore = page.nextBefore;
      this.historyLoaded = true;
    } else if (kind === 'older') {
      this.nextBefore = page.nextBefore;
    }
    return added;
  }

  /** A replay that said `complete` vouches that nothing up to `lastSeq` is missing. */
  replayComplete(lastSeq: number): void {
    this.contiguous = Math.max(this.contiguous, lastSeq);
    this.advance();
  }

  /** Forget stored events (pending sends stay) before reloading history from scratch. */
  reset(): void {
    this.bySeq.clear();
    this.seqs = [];
    this.receipted.clear();
    this.nextBefore = null;
    this.historyLoaded = false;
  }

  startSend(clientMsgId: string, body: string): PendingSend {
    const p: PendingSend = { clientMsgId, body, state: 'sending' };
    this.pending.set(clientMsgId, p);
    return p;
  }

  /** Back to `sending` for a retry; the clientMsgId stays the same. */
  retry(clientMsgId: string): PendingSend | undefined {
    const p = this.pending.get(clientMsgId);
    if (!p || p.state === 'stored') return undefined;
    p.state = 'sending';
    delete p.error;
    return p;
  }

  markStored(clientMsgId: string, seq: number): void {
    const p = this.pending.get(clientMsgId);
    this.receipted.add(seq);
    for (const other of this.pending.values()) {
      if (other !== p && other.matchedSeq === seq) delete other.matchedSeq;
    }
    if (!p) return;
    if (this.bySeq.has(seq)) {
      this.pending.delete(clientMsgId);
    } else {
      p.state = 'stored';
      p.seq = seq;
      delete p.matchedSeq;
    }
  }

  markFailed(clientMsgId: string, error: string): void {
    const p = this.pending.get(clientMsgId);
    if (!p || p.state === 'stored') return;
    p.state = 'failed';
    p.error = error;
    delete p.matchedSeq;
  }

  pendingSends(): PendingSend[] {
    return [...this.pending.values()];
  }

  /** What to show, oldest first: stored events by seq, then sends not yet seen as stored. */
  rows(): Row[] {
    const shownBy = new Map<number, Delivery>();
    for (const p of this.pending.values()) {
      if (p.matchedSeq !== undefined && this.bySeq.has(p.matchedSeq)) shownBy.set(p.matchedSeq, p.state);
    }
    const rows: Row[] = [];
    for (const seq of this.seqs) {
      const message = this.bySeq.get(seq)!;
      let delivery: Delivery | null = null;
      if (message.type === 'message' && message.sender?.id === this.myId) {
        delivery = shownBy.get(seq) ?? 'stored';
      }
      rows.push({ kind: 'stored', key: `s${seq}`, message, delivery });
    }
    for (const p of this.pending.values()) {
      if (p.matchedSeq !== undefined && this.bySeq.has(p.matchedSeq)) continue;
      rows.push({ kind: 'pending', key: `p${p.clientMsgId}`, pending: p });
    }
    return rows;
  }

  private settlePending(message: Message): void {
    if (message.type !== 'message' || message.sender?.id !== this.myId) return;
    if (message.clientMsgId) {
      // The server says which send this is: no guessing by seq or body.
      this.pending.delete(message.clientMsgId);
      for (const p of this.pending.values()) {
        if (p.matchedSeq === message.seq) delete p.matchedSeq;
      }
      return;
    }
    for (const [id, p] of this.pending) {
      if (p.state === 'stored' && p.seq === message.seq) {
        this.pending.delete(id);
        return;
      }
    }
    if (this.receipted.has(message.seq)) return;
    // The MESSAGE often overtakes its RECEIPT: show it once, still "sending", until the receipt.
    for (const p of this.pending.values()) {
      if (p.state === 'sending' && p.matchedSeq === undefined && p.body === message.body) {
        p.matchedSeq = message.seq;
        return;
      }
    }
  }

  private advance(): void {
    while (this.bySeq.has(this.contiguous + 1)) this.contiguous += 1;
  }
}

function isNewerVersion(candidate: Message, known: Message): boolean {
  if (candidate.deletedAt && !known.deletedAt) return true;
  if (candidate.editedAt && (!known.editedAt || candidate.editedAt > known.editedAt)) return true;
  return false;
}

function insertSorted(list: number[], value: number): void {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (list[mid]! < value) lo = mid + 1;
    else hi = mid;
  }
  list.splice(lo, 0, value);
}
