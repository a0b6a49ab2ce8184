import { describe, expect, it } from 'vitest';
import { Timeline } from '../../src/store';
import type { Message } from '../../src/types';

const ME = 'u-me';
const OTHER = 'u-other';

function msg(seq: number, body = `m${seq}`, sender = OTHER, extra: Partial<Message> = {}): Message {
  return {
    seq,
    id: `id-${seq}`,
    roomId: 'r',
    type: 'message',
    sender: { id: sender, username: sender, displayName: sender },
    body,
    createdAt: '2026-01-01T00:00:00Z',
    editedAt: null,
    deletedAt: null,
    ...extra,
  };
}

const seqs = (tl: Timeline) =>
  tl.rows().flatMap((r) => (r.kind === 'stored' ? [r.message.seq] : []));

describe('ordering and de-duplication', () => {
  it('orders events by seq whatever order they arrive in', () => {
    const tl = new Timeline('r', ME);
    for (const s of [3, 1, 5, 2, 4]) tl.add(msg(s));
    expect(seqs(tl)).toEqual([1, 2, 3, 4, 5]);
  });

  it('shows an event delivered twice once', () => {
    const tl = new Timeline('r', ME);
    expect(tl.add(msg(1))).toBe(true);
    expect(tl.add(msg(1))).toBe(false);
    expect(tl.add(msg(2))).toBe(true);
    expect(seqs(tl)).toEqual([1, 2]);
  });

  it('keeps the newer version when a duplicate carries an edit or a delete', () => {
    const tl = new Timeline('r', ME);
    tl.add(msg(1, 'old'));
    tl.add(msg(1, 'new', OTHER, { editedAt: '2026-01-01T00:01:00Z' }));
    tl.add(msg(1, 'old'));
    const row = tl.rows()[0];
    expect(row?.kind === 'stored' && row.message.body).toBe('new');
  });

  it('applies message_updated only to loaded messages', () => {
    const tl = new Timeline('r', ME);
    tl.add(msg(2, 'hello'));
    expect(tl.update(msg(2, '', OTHER, { deletedAt: '2026-01-01T00:02:00Z' }))).toBe(true);
    expect(tl.update(msg(9, 'unknown'))).toBe(false);
    expect(tl.get(2)?.deletedAt).not.toBeNull();
    expect(tl.has(9)).toBe(false);
  });
});

describe('resubscribe position', () => {
  it('advances only over a contiguous run of seqs', () => {
    const tl = new Timeline('r', ME, 10);
    tl.add(msg(11));
    tl.add(msg(13));
    expect(tl.sinceSeq).toBe(11);
    tl.add(msg(12));
    expect(tl.sinceSeq).toBe(13);
  });

  it('trusts a complete replay marker across a gap it vouches for', () => {
    const tl = new Timeline('r', ME, 4);
    tl.replayComplete(7);
    expect(tl.sinceSeq).toBe(7);
    tl.replayComplete(5);
    expect(tl.sinceSeq).toBe(7);
  });

  it('takes the newest page of history as the starting point', () => {
    const tl = new Timeline('r', ME, 0);
    tl.addPage({ items: [msg(48), msg(49), msg(50)], nextBefore: 48, nextAfter: null }, 'newest');
    expect(tl.sinceSeq).toBe(50);
    expect(tl.nextBefore).toBe(48);
    expect(tl.historyLoaded).toBe(true);
  });

  it('merges older pages below live messages without duplicates', () => {
    const tl = new Timeline('r', ME);
    tl.add(msg(5));
    tl.addPage({ items: [msg(3), msg(4), msg(5)], nextBefore: 3, nextAfter: null }, 'newest');
    tl.addPage({ items: [msg(1), msg(2), msg(3)], nextBefore: null, nextAfter: 4 }, 'older');
    expect(seqs(tl)).toEqual([1, 2, 3, 4, 5]);
    expect(tl.nextBefore).toBeNull();
  });

  it('forgets stored events on reset but keeps sends in flight', () => {
    const tl = new Timeline('r', ME);
    tl.addPage({ items: [msg(1)], nextBefore: null, nextAfter: null }, 'newest');
    tl.startSend('c1', 'hi');
    tl.reset();
    expect(tl.size).toBe(0);
    expect(tl.historyLoaded).toBe(false);
    expect(tl.pendingSends().map((p) => p.clientMsgId)).toEqual(['c1']);
  });
});

describe('delivery state of own messages', () => {
  const pending = (tl: Timeline) => tl.rows().filter((r) => r.kind === 'pending');
  const delivery = (tl: Timeline, seq: number) =>
    tl.rows().find((r) => r.kind === 'stored' && r.message.seq === seq);

  it('is sending, then stored when the RECEIPT arrives before the MESSAGE', () => {
    const tl = new Timeline('r', ME);
    tl.startSend('c1', 'hello');
    expect(pending(tl)).toHaveLength(1);
    tl.markStored('c1', 7);
    const row = pending(tl)[0];
    expect(row?.kind === 'pending' && row.pending.state).toBe('stored');
    tl.add(msg(7, 'hello', ME));
    expect(pending(tl)).toHaveLength(0);
    const stored = delivery(tl, 7);
    expect(stored?.kind === 'stored' && stored.delivery).toBe('stored');
  });

  it('shows a MESSAGE that overtakes its RECEIPT once, still sending until the receipt', () => {
    const tl = new Timeline('r', ME);
    tl.startSend('c1', 'hello');
    tl.add(msg(7, 'hello', ME));
    expect(tl.rows()).toHaveLength(1);
    let row = delivery(tl, 7);
    expect(row?.kind === 'stored' && row.delivery).toBe('sending');
    tl.markStored('c1', 7);
    expect(tl.rows()).toHaveLength(1);
    row = delivery(tl, 7);
    expect(row?.kind === 'stored' && row.delivery).toBe('stored');
  });

  it('corrects a wrong guess between two sends with the same text', () => {
    const tl = new Timeline('r', ME);
    tl.startSend('a', 'same');
    tl.startSend('b', 'same');
    tl.add(msg(8, 'same', ME)); // guessed to be "a", but it is "b"
    tl.markStored('b', 8);
    expect(pending(tl).map((r) => r.kind === 'pending' && r.pending.clientMsgId)).toEqual(['a']);
    tl.markStored('a', 9);
    tl.add(msg(9, 'same', ME));
    expect(pending(tl)).toHaveLength(0);
    expect(seqs(tl)).toEqual([8, 9]);
  });

  it('fails with a reason and retries under the same clientMsgId', () => {
    const tl = new Timeline('r', ME);
    tl.startSend('c1', 'hello');
    tl.markFailed('c1', 'Not confirmed by the server in time.');
    let row = pending(tl)[0];
    expect(row?.kind === 'pending' && row.pending.state).toBe('failed');
    expect(row?.kind === 'pending' && row.pending.error).toMatch(/in time/);
    const again = tl.retry('c1');
    expect(again?.clientMsgId).toBe('c1');
    row = pending(tl)[0];
    expect(row?.kind === 'pending' && row.pending.state).toBe('sending');
    // The server answers a retry of a stored message with the first copy's seq.
    tl.markStored('c1', 3);
    tl.add(msg(3, 'hello', ME));
    expect(pending(tl)).toHaveLength(0);
    expect(seqs(tl)).toEqual([3]);
  });

  it('does not pair a failed send with a stored message by its text', () => {
    const tl = new Timeline('r', ME);
    tl.startSend('c1', 'hello');
    tl.markFailed('c1', 'lost');
    tl.add(msg(4, 'hello', ME));
    expect(pending(tl)).toHaveLength(1);
  });

  it('marks messages of others with no delivery state', () => {
    const tl = new Timeline('r', ME);
    tl.add(msg(1, 'hi', OTHER));
    tl.add(msg(2, 'joined', OTHER, { type: 'member_joined', sender: null }));
    expect(tl.rows().map((r) => r.kind === 'stored' && r.delivery)).toEqual([null, null]);
  });
});

describe('reconciling own sends by clientMsgId', () => {
  const own = (seq: number, body: string, cid: string) => msg(seq, body, ME, { clientMsgId: cid });
  const kinds = (tl: Timeline) =>
    tl.rows().map((r) => (r.kind === 'pending' ? `pending:${r.pending.state}` : `stored:${r.delivery}`));

  it('settles a failed send when its stored copy is replayed after an outage', () => {
    const tl = new Timeline('r', ME);
    tl.startSend('c1', 'hello');
    // The connection dropped before the RECEIPT: the page does not know it was stored.
    tl.markFailed('c1', 'The connection was lost.');
    tl.add(own(4, 'hello', 'c1'));
    expect(kinds(tl)).toEqual(['stored:stored']);
    expect(tl.pendingSends()).toHaveLength(0);
    expect(tl.retry('c1')).toBeUndefined();
  });

  it('settles a send from a history page as well as from a live MESSAGE', () => {
    const tl = new Timeline('r', ME);
    tl.startSend('c1', 'hello');
    tl.markFailed('c1', 'Not confirmed by the server in time.');
    tl.addPage({ items: [msg(1), own(2, 'hello', 'c1')], nextBefore: null, nextAfter: null }, 'newest');
    expect(kinds(tl)).toEqual(['stored:null', 'stored:stored']);
  });

  it('pairs two sends of the same text with the copies the server names', () => {
    const tl = new Timeline('r', ME);
    tl.startSend('a', 'same');
    tl.startSend('b', 'same');
    tl.add(own(8, 'same', 'b'));
    expect(tl.pendingSends().map((p) => p.clientMsgId)).toEqual(['a']);
    // A late RECEIPT of the settled send changes nothing; the other is still on its way.
    tl.markStored('b', 8);
    expect(kinds(tl)).toEqual(['stored:stored', 'pending:sending']);
    tl.add(own(9, 'same', 'a'));
    expect(kinds(tl)).toEqual(['stored:stored', 'stored:stored']);
  });

  it('drops a guess by text once the guessed message turns out to be another send', () => {
    const tl = new Timeline('r', ME);
    tl.startSend('a', 'same');
    tl.add(msg(8, 'same', ME)); // no clientMsgId (an old server): guessed to be "a"
    tl.startSend('b', 'same');
    tl.add(own(9, 'same', 'a'));
    expect(tl.pendingSends().map((p) => p.clientMsgId)).toEqual(['b']);
    expect(kinds(tl)).toEqual(['stored:stored', 'stored:stored', 'pending:sending']);
  });

  it('leaves a failed send alone when a stored message of another clientMsgId has its text', () => {
    const tl = new Timeline('r', ME);
    tl.startSend('c1', 'hello');
    tl.markFailed('c1', 'lost');
    tl.add(own(4, 'hello', 'other-device'));
    expect(kinds(tl)).toEqual(['stored:stored', 'pending:failed']);
  });
});
