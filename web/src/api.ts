/**
 * The REST client. Every failure becomes an ApiError whose `message` is a sentence a person
 * can act on; RFC 9457 field errors are kept per field so forms can show them in place.
 */

import type { Member, Message, Page, Role, Room, RoomPage, Session, User } from './types';

export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly fields: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

interface Problem {
  detail?: unknown;
  errors?: { field?: unknown; message?: unknown }[];
}

/** Words for a failed response; the server's `detail` is already written for people. */
export function describeFailure(status: number, problem: Problem | null, retryAfter: string | null): ApiError {
  const fields: Record<string, string> = {};
  for (const err of problem?.errors ?? []) {
    if (typeof err.field === 'string' && typeof err.message === 'string') fields[err.field] = err.message;
  }
  const detail = typeof problem?.detail === 'string' ? problem.detail : '';
  let text: string;
  if (status === 429) {
    const wait = retryAfter && /^\d+$/.test(retryAfter) ? ` Try again in ${retryAfter} seconds.` : ' Try again shortly.';
    text = `Too many attempts.${wait}`;
  } else if (status >= 500) {
    text = 'Something went wrong on our side. Please try again in a moment.';
  } else if (status === 404) {
    text = detail && detail !== 'no such resource' ? capitalize(detail) + '.' : 'That could not be found.';
  } else if (detail) {
    text = capitalize(detail) + (/[.!?]$/.test(detail) ? '' : '.');
  } else {
    text = `The request failed (HTTP ${status}).`;
  }
  return new ApiError(text, status, fields);
}

function capitalize(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

export interface HistoryQuery {
  before?: number | null;
  after?: number | null;
  limit?: number;
}

export class Api {
  constructor(
    private readonly base: string,
    private readonly token: () => string | null,
    private readonly onUnauthorized: () => void,
    /** A password change returned the token to use from now on: keep it. */
    private readonly onSession: (session: Session) => void = () => undefined,
  ) {}

  /** Settles once a password change in flight has handed its new token to `onSession`. */
  private renewal: Promise<unknown> | null = null;

  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = { Accept: 'application/json' };
    const token = this.token();
    if (token) headers.Authorization = `Bearer ${token}`;
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    let res: Response;
    try {
      res = await fetch(`${this.base}/api${path}`, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch {
      throw new ApiError("Can't reach ChatFlow. Check your connection and try again.", 0);
    }
    if (res.status === 204) return undefined as T;
    let parsed: unknown = null;
    try {
      parsed = await res.json();
    } catch {
      parsed = null;
    }
    if (!res.ok) {
      if (res.status === 401 && token && !path.startsWith('/auth/')) await this.unauthorized(token);
      throw describeFailure(res.status, parsed as Problem | null, res.headers.get('Retry-After'));
    }
    return parsed as T;
  }

  /** A refused token ends the session, unless a password change replaced it meanwhile. */
  private async unauthorized(token: string): Promise<void> {
    if (this.renewal) await this.renewal;
    if (this.token() === token) this.onUnauthorized();
  }

  register(username: string, password: string, displayName?: string): Promise<Session> {
    const body: Record<string, string> = { username, password };
    if (displayName) body.displayName = displayName;
    return this.request('POST', '/auth/register', body);
  }
  login(username: string, password: string): Promise<Session> {
    return this.request('POST', '/auth/login', { username, password });
  }
  logout(): Promise<void> {
    return this.request('POST', '/auth/logout');
  }
  async wsTicket(): Promise<string> {
    const token = this.token();
    try {
      return (await this.request<{ ticket: string }>('POST', '/auth/ws-ticket')).ticket;
    } catch (err) {
      // Asked with a token that a password change replaced meanwhile: ask again with the new one.
      if (!(err instanceof ApiError && err.status === 401)) throw err;
      if (this.renewal) await this.renewal;
      if (this.token() === token) throw err;
      return (await this.request<{ ticket: string }>('POST', '/auth/ws-ticket')).ticket;
    }
  }
  me(): Promise<User> {
    return this.request('GET', '/users/me');
  }
  /** Every earlier token stops working; the answer carries the one to use from now on. */
  async changePassword(currentPassword: string, newPassword: string): Promise<Session> {
    const renewed = this.request<Session>('PUT', '/users/me/password', { currentPassword, newPassword }).then((session) => {
      this.onSession(session);
      return session;
    });
    const settled = renewed.catch(() => undefined);
    this.renewal = settled;
    try {
      return await renewed;
    } finally {
      if (this.renewal === settled) this.renewal = null;
    }
  }

  /** Every room I am in: the keyset pages of `GET /rooms` followed until `nextAfter` is null. */
  async myRooms(): Promise<Room[]> {
    const rooms: Room[] = [];
    let path = '/rooms';
    for (;;) {
      const page = await this.request<RoomPage>('GET', path);
      rooms.push(...page.items);
      if (page.nextAfter === null || page.items.length === 0) return rooms;
      path = `/rooms?after=${encodeURIComponent(page.nextAfter)}`;
    }
  }
  searchPublic(q: string): Promise<Room[]> {
    return this.request('GET', `/rooms/public?q=${encodeURIComponent(q)}`);
  }
  createRoom(name: string, topic: string, visibility: 'public' | 'private'): Promise<Room> {
    return this.request('POST', '/rooms', { name, topic: topic || null, visibility });
  }
  room(id: string): Promise<Room> {
    return this.request('GET', `/rooms/${encodeURIComponent(id)}`);
  }
  updateRoom(id: string, changes: { name?: string; topic?: string }): Promise<Room> {
    return this.request('PATCH', `/rooms/${encodeURIComponent(id)}`, changes);
  }
  deleteRoom(id: string): Promise<void> {
    return this.request('DELETE', `/rooms/${encodeURIComponent(id)}`);
  }
  join(id: string): Promise<Room> {
    return this.request('POST', `/rooms/${encodeURIComponent(id)}/join`);
  }
  leave(id: string): Promise<void> {
    return this.request('POST', `/rooms/${encodeURIComponent(id)}/leave`);
  }
  directRoom(username: string): Promise<Room> {
    return this.request('POST', '/dms', { username });
  }

  members(id: string): Promise<Member[]> {
    return this.request('GET', `/rooms/${encodeURIComponent(id)}/members`);
  }
  addMember(id: string, username: string, role: Exclude<Role, 'owner'>): Promise<Member> {
    return this.request('POST', `/rooms/${encodeURIComponent(id)}/members`, { username, role });
  }
  removeMember(id: string, userId: string): Promise<void> {
    return this.request('DELETE', `/rooms/${encodeURIComponent(id)}/members/${encodeURIComponent(userId)}`);
  }
  changeRole(id: string, userId: string, role: Role): Promise<Member> {
    return this.request('PATCH', `/rooms/${encodeURIComponent(id)}/members/${encodeURIComponent(userId)}`, { role });
  }
  async presence(id: string): Promise<User[]> {
    return (await this.request<{ online: User[] }>('GET', `/rooms/${encodeURIComponent(id)}/presence`)).online;
  }

  history(id: string, q: HistoryQuery = {}): Promise<Page> {
    const params = new URLSearchParams();
    if (q.before != null) params.set('before', String(q.before));
    if (q.after != null) params.set('after', String(q.after));
    if (q.limit != null) params.set('limit', String(q.limit));
    const qs = params.toString();
    return this.request('GET', `/rooms/${encodeURIComponent(id)}/messages${qs ? `?${qs}` : ''}`);
  }
  editMessage(id: string, seq: number, body: string): Promise<Message> {
    return this.request('PATCH', `/rooms/${encodeURIComponent(id)}/messages/${seq}`, { body });
  }
  deleteMessage(id: string, seq: number): Promise<void> {
    return this.request('DELETE', `/rooms/${encodeURIComponent(id)}/messages/${seq}`);
  }
  markRead(id: string, seq: number): Promise<unknown> {
    return this.request('PUT', `/rooms/${encodeURIComponent(id)}/read`, { seq });
  }
}
