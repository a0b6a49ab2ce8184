import { afterEach, describe, expect, it, vi } from 'vitest';
import { Api, ApiError } from '../../src/api';
import type { Session } from '../../src/types';

function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } });
}

const SESSION: Session = {
  user: { id: 'u1', username: 'carol', displayName: 'Carol' },
  accessToken: 'new-token',
  tokenType: 'Bearer',
  expiresIn: 3600,
};

describe('a password change', () => {
  afterEach(() => vi.unstubAllGlobals());

  it('keeps the session when a request with the replaced token is refused meanwhile', async () => {
    let token = 'old-token';
    let ended = 0;
    let answerChange: (r: Response) => void = () => undefined;
    const seen: string[] = [];
    vi.stubGlobal('fetch', (url: string, init: RequestInit) => {
      seen.push(`${init.method} ${url} ${(init.headers as Record<string, string>).Authorization}`);
      if (url.endsWith('/users/me/password')) return new Promise<Response>((resolve) => (answerChange = resolve));
      return Promise.resolve(json(401, { detail: 'the token was revoked' }));
    });
    const api = new Api('http://chat', () => token, () => (ended += 1), (s) => (token = s.accessToken));

    const change = api.changePassword('old password', 'new password');
    const refused = api.myRooms().catch((e: unknown) => e);
    await vi.waitFor(() => expect(seen).toHaveLength(2));
    answerChange(json(200, SESSION));
    expect(await change).toEqual(SESSION);
    const err = await refused;
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).status).toBe(401);
    expect(token).toBe('new-token');
    expect(ended).toBe(0);
    expect(seen).toEqual([
      'PUT http://chat/api/users/me/password Bearer old-token',
      'GET http://chat/api/rooms Bearer old-token',
    ]);

    // A refusal of the token the page holds now still ends the session.
    await api.myRooms().catch(() => undefined);
    expect(ended).toBe(1);
  });

  it('asks again for a WebSocket ticket refused under the token just replaced', async () => {
    let token = 'old-token';
    let answerChange: (r: Response) => void = () => undefined;
    const asked: string[] = [];
    vi.stubGlobal('fetch', (url: string, init: RequestInit) => {
      const auth = (init.headers as Record<string, string>).Authorization ?? '';
      if (url.endsWith('/users/me/password')) return new Promise<Response>((resolve) => (answerChange = resolve));
      asked.push(auth);
      return Promise.resolve(auth === 'Bearer new-token' ? json(200, { ticket: 't-1', expiresIn: 60 }) : json(401, { detail: 'revoked' }));
    });
    const api = new Api('http://chat', () => token, () => undefined, (s) => (token = s.accessToken));
    const change = api.changePassword('old password', 'new password');
    const ticket = api.wsTicket();
    await vi.waitFor(() => expect(asked).toHaveLength(1));
    answerChange(json(200, SESSION));
    await change;
    expect(await ticket).toBe('t-1');
    expect(asked).toEqual(['Bearer old-token', 'Bearer new-token']);
    // Without a change in between, a refused ticket is refused.
    token = 'gone';
    await expect(api.wsTicket()).rejects.toMatchObject({ status: 401 });
  });

  it('leaves the token alone when the change is refused', async () => {
    let token = 'old-token';
    vi.stubGlobal('fetch', () =>
      Promise.resolve(json(422, { detail: 'currentPassword: does not match', errors: [{ field: 'currentPassword', message: 'does not match the current password' }] })),
    );
    const api = new Api('http://chat', () => token, () => undefined, (s) => (token = s.accessToken));
    const err = await api.changePassword('wrong', 'new password').catch((e: unknown) => e);
    expect((err as ApiError).fields).toEqual({ currentPassword: 'does not match the current password' });
    expect(token).toBe('old-token');
  });
});

describe('the room list', () => {
  afterEach(() => vi.unstubAllGlobals());

  it('follows the keyset pages of GET /rooms to the end', async () => {
    const room = (id: string) => ({ id, name: id, topic: '', visibility: 'public', role: 'member', lastSeq: 0, unread: 0, createdAt: '' });
    const pages: Record<string, unknown> = {
      'http://chat/api/rooms': { items: [room('a'), room('b')], nextAfter: 'b' },
      'http://chat/api/rooms?after=b': { items: [room('c'), room('d')], nextAfter: 'd' },
      'http://chat/api/rooms?after=d': { items: [room('e')], nextAfter: null },
    };
    const asked: string[] = [];
    vi.stubGlobal('fetch', (url: string) => {
      asked.push(url);
      return Promise.resolve(json(200, pages[url]));
    });
    const api = new Api('http://chat', () => 'token', () => undefined, () => undefined);
    expect((await api.myRooms()).map((r) => r.id)).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect(asked).toEqual(Object.keys(pages));
  });
});
