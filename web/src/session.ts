/** The signed-in session, kept in localStorage so a reload keeps you signed in. */

import type { Session, User } from './types';

const KEY = 'chatflow.session';

export interface StoredSession {
  token: string;
  user: User;
  expiresAt: number;
}

export function saveSession(s: Session): StoredSession {
  const stored = { token: s.accessToken, user: s.user, expiresAt: Date.now() + s.expiresIn * 1000 };
  localStorage.setItem(KEY, JSON.stringify(stored));
  return stored;
}

export function loadSession(): StoredSession | null {
  try {
    const raw = localStorage.getItem(KEY);
    if (!raw) return null;
    const s = JSON.parse(raw) as StoredSession;
    if (!s.token || !s.user || s.expiresAt < Date.now() + 30_000) return null;
    return s;
  } catch {
    return null;
  }
}

export function clearSession(): void {
  localStorage.removeItem(KEY);
}
