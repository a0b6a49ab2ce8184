import { describe, expect, it } from 'vitest';
import { Liveness, TICK_MS, probeInterval, type Verdict } from '../../src/liveness';

const INTERVAL = 20_000;

/** Drive the timer from `from` to `to` in TICK_MS steps, up to a death; what it asked for. */
function run(live: Liveness, from: number, to: number, answer = true): { at: number; v: Verdict }[] {
  const acted: { at: number; v: Verdict }[] = [];
  for (let now = from; now <= to; now += TICK_MS) {
    const v = live.tick(now);
    if (v.action === 'none') continue;
    acted.push({ at: now, v });
    if (v.action === 'dead') break; // the socket is closed; a new connection starts afresh
    if (answer && v.action === 'probe') live.answered(v.receipt);
  }
  return acted;
}

describe('probes replace heart-beats', () => {
  it('sends one probe per interval on a healthy socket, as many as the heart-beats it replaces', () => {
    const live = new Liveness(INTERVAL, 0);
    const acted = run(live, TICK_MS, 10 * INTERVAL);
    expect(acted.map((a) => a.v.action)).toEqual(Array(10).fill('probe'));
    expect(acted.map((a) => a.at)).toEqual(Array.from({ length: 10 }, (_, i) => (i + 1) * INTERVAL));
    expect(acted.every((a) => a.v.action === 'probe' && !a.v.checking)).toBe(true);
  });

  it('names each probe by its own receipt and ignores other receipts', () => {
    const live = new Liveness(INTERVAL, 0);
    const first = live.tick(INTERVAL);
    expect(first).toEqual({ action: 'probe', receipt: 'probe-1', checking: false });
    expect(live.answered('m-1')).toBe(false);
    expect(live.answered('probe-1')).toBe(true);
    expect(live.answered('probe-1')).toBe(false);
    expect(live.tick(2 * INTERVAL)).toMatchObject({ action: 'probe', receipt: 'probe-2' });
  });
});

describe('a silent drop', () => {
  it('is dead one interval after the first unanswered probe, never while one is pending', () => {
    const live = new Liveness(INTERVAL, 0);
    run(live, TICK_MS, 3 * INTERVAL); // healthy; the last probe, at 3 intervals, was answered
    // The network drops silently right after that answer: nothing is answered any more.
    const acted = run(live, 3 * INTERVAL + TICK_MS, 6 * INTERVAL, false);
    expect(acted.map((a) => a.v.action)).toEqual(['probe', 'dead']);
    expect(acted[1]!.at - acted[0]!.at).toBe(INTERVAL);
  });

  it('sends no second probe while the first is unanswered', () => {
    const live = new Liveness(INTERVAL, 0);
    const acted = run(live, TICK_MS, 2 * INTERVAL - TICK_MS, false);
    expect(acted.map((a) => a.v.action)).toEqual(['probe']);
  });

  it('is not declared dead when the answer comes within the interval', () => {
    const live = new Liveness(INTERVAL, 0);
    const probe = live.tick(INTERVAL);
    expect(live.tick(2 * INTERVAL - TICK_MS)).toEqual({ action: 'none' });
    if (probe.action === 'probe') live.answered(probe.receipt);
    expect(live.tick(2 * INTERVAL)).toMatchObject({ action: 'probe' });
  });
});

describe('a page that wakes', () => {
  it('probes at once, checking, when the timer fires an interval late (sleep, frozen tab)', () => {
    const live = new Liveness(INTERVAL, 0);
    expect(live.tick(TICK_MS)).toEqual({ action: 'none' });
    const v = live.tick(TICK_MS + 5 * INTERVAL);
    expect(v).toMatchObject({ action: 'probe', checking: true });
    expect(live.checking).toBe(true);
    if (v.action === 'probe') live.answered(v.receipt);
    expect(live.checking).toBe(false);
  });

  it('probes at once on resume, and is dead an interval later without an answer', () => {
    const live = new Liveness(INTERVAL, 0);
    const v = live.woke(5 * TICK_MS);
    expect(v).toMatchObject({ action: 'probe', checking: true });
    const acted = run(live, 6 * TICK_MS, 5 * TICK_MS + INTERVAL, false);
    expect(acted).toEqual([{ at: 5 * TICK_MS + INTERVAL, v: { action: 'dead' } }]);
  });

  it('gives a probe sent before the sleep a fresh interval instead of calling it dead', () => {
    const live = new Liveness(INTERVAL, 0);
    expect(live.tick(INTERVAL)).toMatchObject({ action: 'probe', checking: false });
    // Asleep for ten intervals; its RECEIPT may be waiting in the page's queue.
    expect(live.tick(11 * INTERVAL)).toEqual({ action: 'none' });
    expect(live.checking).toBe(true);
    expect(live.tick(12 * INTERVAL - TICK_MS)).toEqual({ action: 'none' });
    expect(live.tick(12 * INTERVAL)).toEqual({ action: 'dead' });
  });
});

describe('the interval', () => {
  it('is the larger of the offer and what the server wants', () => {
    expect(probeInterval(10_000, '0,20000')).toBe(20_000);
    expect(probeInterval(10_000, '0,3333')).toBe(10_000);
  });

  it('falls back to the offer when the server wants none or says nothing usable', () => {
    for (const header of [undefined, '', '0,0', '0', 'x,y', '0,-5', '0,1.5']) {
      expect(probeInterval(10_000, header)).toBe(10_000);
    }
  });
});
