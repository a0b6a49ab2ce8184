/**
 * Is the socket alive? The server never sends heart-beats (API Gateway cannot), so silence
 * from it proves nothing, and a dropped network can leave a WebSocket "open" for minutes.
 * The client's heart-beat is therefore a probe that asks for an answer: an `ACK` with a
 * `receipt` header, which the server answers with a RECEIPT and nothing else
 * (docs/protocol.md, "Probing the connection"). It replaces the bare EOL heart-beat at the
 * same interval, so it costs no extra invocation, and it keeps presence alive as the EOL did.
 *
 * The rules, pure so they are unit-tested without a socket or a clock:
 * - every `interval` ms, send a probe (only one is ever outstanding);
 * - a probe not answered within `interval` means the socket is dead;
 * - a page that was asleep or frozen (a timer fired much later than asked, the `resume`
 *   event, or a return to a tab hidden for longer than an interval) cannot vouch for its
 *   socket: it probes at once and is `checking` until the answer comes.
 */

export type Verdict =
  /** Nothing to do. */
  | { action: 'none' }
  /** Send this probe now. `checking`: until it is answered the state is not known. */
  | { action: 'probe'; receipt: string; checking: boolean }
  /** The outstanding probe was not answered in time: close the socket and reconnect. */
  | { action: 'dead' };

/** How often the page looks at the clock: small against any interval, cheap (no network). */
export const TICK_MS = 1000;

export class Liveness {
  private outstanding: { receipt: string; sentAt: number; checking: boolean } | null = null;
  private lastProbe: number;
  private lastTick: number;
  private probes = 0;

  constructor(
    /** The negotiated heart-beat interval (max of ours and the server's `heart-beat` cy). */
    readonly interval: number,
    now: number,
    private readonly prefix = 'probe',
  ) {
    this.lastProbe = now;
    this.lastTick = now;
  }

  /** True while a probe sent after a wake is on its way: the socket is not known to be alive. */
  get checking(): boolean {
    return this.outstanding?.checking ?? false;
  }

  /** Called every TICK_MS by a timer. */
  tick(now: number): Verdict {
    const late = now - this.lastTick;
    this.lastTick = now;
    // A timer that fires an interval late: the page (or the machine) was asleep.
    if (late >= this.interval + TICK_MS) return this.woke(now);
    if (this.outstanding) {
      if (now - this.outstanding.sentAt >= this.interval) return { action: 'dead' };
      return { action: 'none' };
    }
    if (now - this.lastProbe >= this.interval) return this.probe(now, false);
    return { action: 'none' };
  }

  /**
   * The page woke (`resume`, visible again after long hidden, or a late timer): check at once.
   * A probe still outstanding from before the sleep gets a fresh interval: its RECEIPT may be
   * waiting in the queue of a page that could not run, and that is no proof of a dead socket.
   */
  woke(now: number): Verdict {
    this.lastTick = now;
    if (this.outstanding) {
      this.outstanding.sentAt = now;
      this.outstanding.checking = true;
      return { action: 'none' };
    }
    return this.probe(now, true);
  }

  /** A RECEIPT arrived; true when it answered the outstanding probe. */
  answered(receipt: string): boolean {
    if (this.outstanding?.receipt !== receipt) return false;
    this.outstanding = null;
    return true;
  }

  private probe(now: number, checking: boolean): Verdict {
    this.probes += 1;
    const receipt = `${this.prefix}-${this.probes}`;
    this.outstanding = { receipt, sentAt: now, checking };
    this.lastProbe = now;
    return { action: 'probe', receipt, checking };
  }
}

/**
 * The heart-beat interval of a connection: STOMP's rule, the larger of what the client can
 * send (`offered`) and what the server wants (the second number of CONNECTED's `heart-beat`).
 * A server that wants none still gets probes at the offered rate: liveness is the client's
 * own need.
 */
export function probeInterval(offered: number, header: string | undefined): number {
  const wanted = Number((header ?? '').split(',')[1]);
  return Number.isInteger(wanted) && wanted > 0 ? Math.max(offered, wanted) : offered;
}
