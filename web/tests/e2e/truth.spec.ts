/**
 * The page tells the truth: the header is never "Connected" while the browser is offline or
 * the socket is dead (a silent drop is found by the probes, counted here), the error banner
 * clears itself, notices reach the page at once, and the sender's username tells two people
 * of the same name apart.
 */

import { type APIRequestContext, type Page, type WebSocketRoute, expect, test } from '@playwright/test';
import {
  PASSWORD,
  createRoom,
  expectConnected,
  messagesWithText,
  newPerson,
  register,
  roomIdOf,
  send,
  uniqueName,
} from './helpers';

/**
 * The person's WebSockets through a route the test controls: it counts the probes the page
 * sends (ACK frames asking for a receipt) and can silence a socket (nothing passes either
 * way, the socket stays open), as a network that drops without a word does.
 */
interface Wire {
  /** Probes that reached the server. */
  probes: number;
  /** Probes the page sent into the silenced socket, as counted when the next socket opened. */
  unanswered: number;
  sockets: number;
  silence(): void;
  /** Let the page's frames through but nothing back: a SEND is stored, its RECEIPT lost. */
  deafen(): void;
}

async function wire(page: Page): Promise<Wire> {
  const open: WebSocketRoute[] = [];
  const silenced = new Set<WebSocketRoute>();
  const deaf = new Set<WebSocketRoute>();
  let sinceSilence = 0;
  const state: Wire = {
    probes: 0,
    unanswered: 0,
    sockets: 0,
    silence() {
      for (const ws of open) silenced.add(ws);
      sinceSilence = 0;
    },
    deafen() {
      for (const ws of open) deaf.add(ws);
    },
  };
  await page.routeWebSocket(/.*/, (ws) => {
    state.sockets += 1;
    state.unanswered = sinceSilence;
    open.push(ws);
    const server = ws.connectToServer();
    ws.onMessage((data) => {
      const probe = typeof data === 'string' && /^ACK\n(?:[^\n]*\n)*receipt:probe-/.test(data);
      if (silenced.has(ws)) {
        if (probe) sinceSilence += 1;
        return;
      }
      if (probe) state.probes += 1;
      server.send(data);
    });
    server.onMessage((data) => {
      if (!silenced.has(ws) && !deaf.has(ws)) ws.send(data);
    });
    // Not even a close passes a silenced socket (the gateway's idle timeout closes its side).
    server.onClose((code, reason) => {
      if (!silenced.has(ws) && !deaf.has(ws)) void ws.close({ code, reason });
    });
  });
  return state;
}

/** Every `data-state` the header takes from now on, recorded in the page. */
async function recordStates(page: Page): Promise<() => Promise<string[]>> {
  await page.evaluate(() => {
    const el = document.querySelector('.conn') as HTMLElement;
    const seen: string[] = [];
    (window as unknown as { connStates: string[] }).connStates = seen;
    new MutationObserver(() => {
      const now = el.dataset.state ?? '';
      if (seen[seen.length - 1] !== now) seen.push(now);
    }).observe(el, { attributes: true, attributeFilter: ['data-state'] });
  });
  return () => page.evaluate(() => [...(window as unknown as { connStates: string[] }).connStates]);
}

const conn = (page: Page) => page.locator('.conn');

test('the header follows the real connection: offline, a silent drop, a page that wakes', async ({ browser, request }) => {
  // Three waits of up to two heart-beat intervals each, on a machine that may be busy.
  test.setTimeout(180_000);
  const alice = await newPerson(browser, 'alice');
  const net = await wire(alice.page);
  await register(alice);
  const room = uniqueName('truth');
  await createRoom(alice.page, room);
  const roomId = roomIdOf(alice.page);
  // The page probes instead of sending bare heart-beats: at least one answered probe.
  await expect.poll(() => net.probes).toBeGreaterThan(0);
  await expectConnected(alice.page);

  // The browser says it is offline: the header says so at once, before any probe could tell.
  const probesBefore = net.probes;
  await alice.context.setOffline(true);
  await expect(conn(alice.page)).toHaveAttribute('data-state', 'waiting');
  await expect(alice.page.getByRole('status').filter({ hasText: 'Your device is offline.' })).toBeVisible();
  expect(net.probes).toBe(probesBefore);
  await alice.context.setOffline(false);
  await expectConnected(alice.page);

  // A silent drop: the socket stays open and nothing passes. At most two probes go into it
  // (the last answered one may have been just before the drop) before the page stops saying
  // "Connected" and reconnects on a new socket, with the message it missed meanwhile.
  await expect.poll(() => net.probes).toBeGreaterThan(probesBefore);
  let states = await recordStates(alice.page);
  const socketsBefore = net.sockets;
  net.silence();
  await postAs(request, alice.username, roomId, 'said during the silence');
  await expect.poll(() => net.sockets, { timeout: 60_000 }).toBe(socketsBefore + 1);
  // (A probe that passed just before the silence, its RECEIPT then held back, counts as none.)
  expect(net.unanswered).toBeLessThanOrEqual(2);
  await expectConnected(alice.page);
  expect(await states()).toEqual(['connecting', 'connected']);
  await expect(messagesWithText(alice.page, 'said during the silence')).toHaveCount(1);

  // A page that wakes (the browser fires `resume` on a frozen page that runs again, as after a
  // laptop's sleep) to a dead socket: it is "checking" at once, not "Connected", and it
  // reconnects when its probe goes unanswered.
  states = await recordStates(alice.page);
  const socketsAsleep = net.sockets;
  net.silence();
  await alice.page.evaluate(() => document.dispatchEvent(new Event('resume')));
  expect(await states()).toEqual(['checking']);
  await expect(alice.page.getByRole('status').filter({ hasText: 'Checking the connection…' })).toBeVisible();
  await expect.poll(() => net.sockets, { timeout: 60_000 }).toBe(socketsAsleep + 1);
  expect(net.unanswered).toBeLessThanOrEqual(1);
  await expectConnected(alice.page);
  expect(await states()).toEqual(['checking', 'connecting', 'connected']);
  await alice.context.close();
});

test('the error banner clears itself once the condition that raised it is over', async ({ browser }) => {
  const alice = await newPerson(browser, 'alice');
  await register(alice);
  await alice.context.setOffline(true);
  // Something the page loads on its own fails while offline: the banner says so ...
  await alice.page.evaluate(() => window.dispatchEvent(new Event('focus')));
  const banner = alice.page.getByRole('alert').filter({ hasText: 'Your rooms could not be loaded.' });
  await expect(banner).toBeVisible();
  // ... and goes away by itself once the network is back and the list loads again.
  await alice.context.setOffline(false);
  await expectConnected(alice.page);
  await expect(banner).toHaveCount(0);
  await expect(alice.page.locator('.toast')).toBeHidden();
  await alice.context.close();
});

test('notices reach the page at once: added, a role, a direct message, a deletion', async ({ browser, request }) => {
  const alice = await newPerson(browser, 'alice');
  await register(alice);
  // The page's own list requests are counted (and refused) from now on: whatever appears
  // below came through /user/queue/notifications, not the 30 s poll.
  let listRequests = 0;
  await alice.page.route(/\/api\/rooms(\?.*)?$/, (route) => {
    if (route.request().method() !== 'GET') return route.fallback();
    listRequests += 1;
    return route.abort();
  });

  // Bob, another person with the same display name as Alice.
  const bob = await signUp(request, uniqueName('bob'), alice.displayName);
  const name = uniqueName('secret');
  const created = await request.post('/api/rooms', { data: { name, visibility: 'private' }, headers: bob.headers });
  expect(created.status()).toBe(201);
  const roomId = (await created.json()).id as string;
  const added = await request.post(`/api/rooms/${roomId}/members`, { data: { username: alice.username }, headers: bob.headers });
  expect(added.status()).toBe(201);
  const link = alice.page.getByRole('link', { name: new RegExp(`^${name} \\(Private room`) });
  await expect(link).toBeVisible();

  // In the room, Bob's message shows his username beside the shared display name.
  await link.click();
  const said = await request.post(`/api/rooms/${roomId}/messages`, { data: { body: 'same name, other person' }, headers: bob.headers });
  expect(said.status()).toBe(201);
  const row = messagesWithText(alice.page, 'same name, other person');
  await expect(row.locator('.sender')).toHaveText(alice.displayName);
  await expect(row.locator('.username')).toHaveText(`@${bob.username}`);

  // Made an admin: the settings of the room open to her at once.
  await expect(alice.page.getByRole('button', { name: 'Settings' })).toBeHidden();
  const promoted = await request.patch(`/api/rooms/${roomId}/members/${(await me(request, alice.page)).id}`, {
    data: { role: 'admin' },
    headers: bob.headers,
  });
  expect(promoted.status()).toBe(200);
  await expect(alice.page.getByRole('button', { name: 'Settings' })).toBeVisible();

  // A direct message from Bob: a room the page did not know, listed with its unread count.
  const dm = await request.post('/api/dms', { data: { username: alice.username }, headers: bob.headers });
  expect(dm.ok()).toBe(true);
  const dmId = (await dm.json()).id as string;
  const dmSaid = await request.post(`/api/rooms/${dmId}/messages`, { data: { body: 'psst' }, headers: bob.headers });
  expect(dmSaid.status()).toBe(201);
  await expect(alice.page.getByRole('link', { name: new RegExp(`^${bob.username} \\(Direct message, 1 unread\\)`) })).toBeVisible();

  // The room is deleted while she is in it.
  const deleted = await request.delete(`/api/rooms/${roomId}`, { headers: bob.headers });
  expect(deleted.status()).toBe(204);
  await expect(alice.page.getByText('This room was deleted.')).toBeVisible();
  await expect(link).toHaveCount(0);
  expect(listRequests).toBe(0);
  await alice.context.close();
});

interface Account {
  username: string;
  headers: Record<string, string>;
}

async function signUp(request: APIRequestContext, username: string, displayName: string): Promise<Account> {
  const res = await request.post('/api/auth/register', { data: { username, password: PASSWORD, displayName } });
  expect(res.status()).toBe(201);
  const token = (await res.json()).accessToken as string;
  return { username, headers: { Authorization: `Bearer ${token}` } };
}

/** The signed-in person of the page, as the API knows them. */
async function me(request: APIRequestContext, page: Page): Promise<{ id: string }> {
  const token = await page.evaluate(() => (JSON.parse(localStorage.getItem('chatflow.session') ?? '{}') as { token?: string }).token);
  const res = await request.get('/api/users/me', { headers: { Authorization: `Bearer ${token}` } });
  expect(res.status()).toBe(200);
  return (await res.json()) as { id: string };
}

/** Post as the person signed in with `username` (a second session of theirs, over REST). */
async function postAs(request: APIRequestContext, username: string, roomId: string, body: string): Promise<void> {
  const login = await request.post('/api/auth/login', { data: { username, password: PASSWORD } });
  expect(login.status()).toBe(200);
  const token = (await login.json()).accessToken as string;
  const res = await request.post(`/api/rooms/${roomId}/messages`, { data: { body }, headers: { Authorization: `Bearer ${token}` } });
  expect(res.status()).toBe(201);
}

test('a message stored while its RECEIPT was lost shows once, as sent, after the outage', async ({ browser }) => {
  const alice = await newPerson(browser, 'alice');
  const net = await wire(alice.page);
  await register(alice);
  await createRoom(alice.page, uniqueName('outage'));
  await send(alice.page, 'before the outage');
  await expect(messagesWithText(alice.page, 'before the outage')).toHaveAttribute('data-delivery', 'stored');

  // The way back fails: the SEND reaches the server and is stored, nothing comes back.
  const socketsBefore = net.sockets;
  net.deafen();
  await send(alice.page, 'stored in the dark');
  await expect.poll(() => net.sockets, { timeout: 60_000 }).toBe(socketsBefore + 1);
  await expectConnected(alice.page);

  // One row, sent; never a second "Not sent" copy beside it.
  const rows = messagesWithText(alice.page, 'stored in the dark');
  await expect(rows).toHaveCount(1);
  await expect(rows).toHaveAttribute('data-delivery', 'stored');
  await expect(alice.page.getByText('Not sent.')).toHaveCount(0);
  await expect(alice.page.locator('ol.messages > li.pending')).toHaveCount(0);
  await alice.context.close();
});
