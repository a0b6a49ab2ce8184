/**
 * Two people chat in real browsers against the running stack: messages, delivery state,
 * typing, presence, members, a socket cut and recovered, and a private room kept private.
 * The screenshots in docs/img are taken here, so they always show the current client.
 */

import { type WebSocketRoute, expect, test } from '@playwright/test';
import {
  createRoom,
  expectConnected,
  joinPublicRoom,
  messagesWithText,
  newPerson,
  postViaApi,
  register,
  roomIdOf,
  screenshot,
  send,
  uniqueName,
} from './helpers';

test('two people chat: delivery, typing, presence, edits and members', async ({ browser }) => {
  const alice = await newPerson(browser, 'alice');
  const bob = await newPerson(browser, 'bob');

  await register(alice, async (page) => {
    await page.getByRole('button', { name: 'Sign in instead' }).click();
    await page.getByLabel('Username').fill(alice.username);
    await screenshot(page, 'login.png');
    await page.getByRole('button', { name: 'Create an account' }).click();
    await page.getByLabel('Username').fill(alice.username);
    await page.getByLabel('Display name (optional)').fill(alice.displayName);
    await page.getByLabel('Password').fill('correct horse battery staple');
  });
  await register(bob);

  const lobby = uniqueName('lobby');
  await createRoom(alice.page, lobby, 'public', 'Say hello');
  await joinPublicRoom(bob.page, lobby);

  // Alice sees Bob join, as a system line.
  await expect(alice.page.locator('ol.messages li.system', { hasText: `${bob.displayName} joined` })).toBeVisible();

  // A message goes from sending to stored (the RECEIPT) and reaches the other browser.
  await send(alice.page, 'Hello Bob!');
  const mine = messagesWithText(alice.page, 'Hello Bob!');
  await expect(mine).toHaveCount(1);
  await expect(mine).toHaveAttribute('data-delivery', 'stored');
  await expect(messagesWithText(bob.page, 'Hello Bob!')).toHaveCount(1);

  await send(bob.page, 'Hi Alice, how are you?');
  await expect(messagesWithText(alice.page, 'Hi Alice, how are you?')).toHaveCount(1);

  // Typing is seen across.
  await bob.page.getByRole('textbox', { name: /^Message / }).pressSequentially('I am wri', { delay: 20 });
  await expect(alice.page.locator('.typing')).toHaveText(`${bob.displayName} is typing…`);
  await bob.page.getByRole('textbox', { name: /^Message / }).fill('');

  // Edit and delete of an own message, seen by the other person.
  await send(alice.page, 'Fine, thanks! Lunch at noon?');
  await expect(messagesWithText(bob.page, 'Fine, thanks! Lunch at noon?')).toHaveCount(1);
  const lunch = messagesWithText(alice.page, 'Fine, thanks! Lunch at noon?');
  await lunch.getByRole('button', { name: /^Edit your message/ }).click();
  await alice.page.getByLabel('Edit message').fill('Fine, thanks! Lunch at 12:30?');
  await alice.page.getByLabel('Edit message').press('Enter');
  const edited = messagesWithText(bob.page, 'Fine, thanks! Lunch at 12:30?');
  await expect(edited).toHaveCount(1);
  await expect(edited.locator('.edited')).toHaveText('(edited)');
  await send(alice.page, 'oops, wrong room');
  alice.page.once('dialog', (d) => void d.accept());
  await messagesWithText(alice.page, 'oops, wrong room').getByRole('button', { name: /^Delete your message/ }).click();
  await expect(messagesWithText(bob.page, 'This message was deleted.')).toHaveCount(1);

  await screenshot(alice.page, 'chat.png');

  // Presence: Alice sees Bob online, then offline when his browser goes away.
  await alice.page.getByRole('button', { name: 'Members' }).click();
  const bobRow = alice.page.locator(`.member[data-user="${bob.username}"]`);
  await expect(bobRow).toHaveAttribute('data-presence', 'online');
  await expect(alice.page.getByRole('heading', { name: 'Members' })).toBeFocused();

  // An owner adds a member from the panel.
  const carol = await newPerson(browser, 'carol');
  await register(carol);
  await alice.page.getByLabel('Username', { exact: true }).fill(carol.username);
  await alice.page.getByRole('combobox', { name: 'Role' }).selectOption('admin');
  await alice.page.getByRole('button', { name: 'Add', exact: true }).click();
  await expect(alice.page.locator(`.member[data-user="${carol.username}"] .role`)).toHaveText('admin');
  await screenshot(alice.page, 'members.png');

  await bob.context.close();
  await expect(bobRow).toHaveAttribute('data-presence', 'offline');

  // The owner removes a member; the removed person is told in words.
  await carol.page.reload();
  await carol.page.getByRole('link', { name: new RegExp(lobby) }).click();
  await expectConnected(carol.page);
  alice.page.once('dialog', (d) => void d.accept());
  await alice.page.getByRole('button', { name: `Remove ${carol.displayName} from the room` }).click();
  await expect(carol.page.getByText('You were removed from this room.', { exact: false })).toBeVisible();

  // The room list with several rooms and an unread count.
  await createRoom(alice.page, uniqueName('design'), 'private', 'Mockups and reviews');
  const dm = await newPerson(browser, 'dave');
  await register(dm);
  await dm.page.locator('summary', { hasText: 'Message a person' }).click();
  await dm.page.getByLabel('Their username').fill(alice.username);
  await dm.page.getByRole('button', { name: 'Open chat' }).click();
  await send(dm.page, 'Hey Alice, got a minute?');
  await expect(messagesWithText(dm.page, 'Hey Alice, got a minute?')).toHaveAttribute('data-delivery', 'stored');
  const reloaded = await alice.page.reload();
  await alice.page.goto('/#/');
  await expectConnected(alice.page);
  await expect(alice.page.getByRole('link', { name: new RegExp(`${dm.username} \\(Direct message, 1 unread\\)`) })).toBeVisible();
  await screenshot(alice.page, 'rooms.png');

  // All of the above ran under the page's Content-Security-Policy, and it blocked nothing.
  const policy = reloaded?.headers()['content-security-policy'] ?? '';
  expect(policy).toContain("frame-ancestors 'none'");
  expect(policy).toContain("script-src 'self';");
  expect(reloaded?.headers()['x-content-type-options']).toBe('nosniff');
  for (const p of [alice, bob, carol, dm]) expect(p.cspViolations, p.username).toEqual([]);

  for (const p of [alice, carol, dm]) await p.context.close();
});

test('a cut socket reconnects and shows what was sent meanwhile, once', async ({ browser }) => {
  const alice = await newPerson(browser, 'alice');
  const bob = await newPerson(browser, 'bob', { mobile: true });
  // Bob's WebSockets pass through a route the test can cut, as a network failure would.
  const sockets: WebSocketRoute[] = [];
  await bob.page.routeWebSocket(/.*/, (ws) => {
    sockets.push(ws);
    ws.connectToServer();
  });
  await register(alice);
  await register(bob);
  const room = uniqueName('standup');
  await createRoom(alice.page, room);
  await joinPublicRoom(bob.page, room);
  await send(alice.page, 'before the cut');
  await expect(messagesWithText(bob.page, 'before the cut')).toHaveCount(1);

  // Bob goes offline: his socket is cut and reconnecting fails until the network is back.
  await bob.context.setOffline(true);
  for (const ws of sockets) await ws.close({ code: 1006, reason: 'network down' }).catch(() => undefined);
  await expect(bob.page.locator('.conn')).toHaveAttribute('data-state', 'waiting');
  await expect(bob.page.getByRole('status').filter({ hasText: 'Offline.' })).toBeVisible();
  await screenshot(bob.page, 'offline-mobile.png');

  const missed = ['while away 1', 'while away 2', 'while away 3'];
  for (const text of missed) {
    await send(alice.page, text);
    await expect(messagesWithText(alice.page, text)).toHaveAttribute('data-delivery', 'stored');
  }
  await bob.context.setOffline(false);
  await expectConnected(bob.page);

  for (const text of ['before the cut', ...missed]) await expect(messagesWithText(bob.page, text)).toHaveCount(1);
  const order = await bob.page
    .locator('ol.messages > li[data-seq]')
    .evaluateAll((els) => els.map((e) => Number((e as HTMLElement).dataset.seq)));
  expect(order).toEqual([...order].sort((a, b) => a - b));
  expect(new Set(order).size).toBe(order.length);
  expect(order.length).toBe(order[order.length - 1]! - order[0]! + 1);

  await send(bob.page, 'back online');
  await expect(messagesWithText(bob.page, 'back online')).toHaveAttribute('data-delivery', 'stored');
  await expect(messagesWithText(alice.page, 'back online')).toHaveCount(1);
  await screenshot(bob.page, 'chat-mobile.png');
  await alice.context.close();
  await bob.context.close();
});

test('missing more than one replay carries reloads the history: every message once, in order', async ({ browser, request }) => {
  // The stack's REPLAY_MAX (the e2e session sets it small); the server's default otherwise.
  const replayMax = Number(process.env.CHATFLOW_REPLAY_MAX ?? '100');
  const alice = await newPerson(browser, 'alice');
  const bob = await newPerson(browser, 'bob');
  const sockets: WebSocketRoute[] = [];
  await bob.page.routeWebSocket(/.*/, (ws) => {
    sockets.push(ws);
    ws.connectToServer();
  });
  await register(alice);
  await register(bob);
  const room = uniqueName('incident');
  const id = await createRoom(alice.page, room);
  await joinPublicRoom(bob.page, room);
  await send(alice.page, 'before the cut');
  await expect(messagesWithText(bob.page, 'before the cut')).toHaveCount(1);

  await bob.context.setOffline(true);
  for (const ws of sockets) await ws.close({ code: 1006, reason: 'network down' }).catch(() => undefined);
  await expect(bob.page.locator('.conn')).toHaveAttribute('data-state', 'waiting');
  // More than one replay carries, posted through REST while Bob is away.
  const missed = Array.from({ length: replayMax + 5 }, (_, i) => `missed ${i + 1}`);
  for (const text of missed) await postViaApi(alice.page, request, id, text);
  await bob.context.setOffline(false);
  await expectConnected(bob.page);

  // The replay said it was incomplete, so the page reloaded the history and said so.
  await expect(bob.page.locator('.sr-only[aria-live="polite"]')).toHaveText(
    'You were away for a while; the latest messages were reloaded.',
  );
  await expect(messagesWithText(bob.page, missed[missed.length - 1]!)).toHaveCount(1);
  const list = bob.page.locator('ol.messages');
  await expect(async () => {
    await list.evaluate((el) => el.scrollTo({ top: 0 }));
    await expect(bob.page.getByText('This is the beginning of the room.')).toBeVisible({ timeout: 1000 });
  }).toPass();
  const rows = await bob.page
    .locator('ol.messages > li[data-seq]')
    .evaluateAll((els) => els.map((e) => ({ seq: Number((e as HTMLElement).dataset.seq), body: e.querySelector('.body')?.textContent ?? null })));
  const seqs = rows.map((r) => r.seq);
  // Every stored event of the room once, in order, none missing (seqs are dense per room).
  expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => i + 1));
  const bodies = rows.map((r) => r.body).filter((b): b is string => b !== null);
  expect(bodies).toEqual(['before the cut', ...missed]);
  await alice.context.close();
  await bob.context.close();
});

test('a private room stays private; its history loads in pages when scrolling back', async ({ browser, request }) => {
  const owner = await newPerson(browser, 'erin');
  const outsider = await newPerson(browser, 'mallory');
  await register(owner);
  await register(outsider);
  await createRoom(owner.page, uniqueName('secret'), 'private');
  const id = roomIdOf(owner.page);
  await send(owner.page, 'the launch date is a secret');

  await outsider.page.goto(`/#/rooms/${id}`);
  await expect(
    outsider.page.getByRole('alert').filter({ hasText: 'This room does not exist, or it is private and you are not a member.' }),
  ).toBeVisible();
  await expect(outsider.page.getByRole('textbox', { name: /^Message / })).toBeHidden();
  await expect(outsider.page.getByText('the launch date is a secret')).toHaveCount(0);

  // More than one page of history: the newest page first, older pages when scrolling up.
  const total = 60;
  for (let i = 1; i <= total; i += 1) await postViaApi(owner.page, request, id, `history ${i}`);
  await owner.page.reload();
  await expect(messagesWithText(owner.page, `history ${total}`)).toHaveCount(1);
  await expect(messagesWithText(owner.page, 'the launch date is a secret')).toHaveCount(0);
  const list = owner.page.locator('ol.messages');
  await expect(async () => {
    await list.evaluate((el) => el.scrollTo({ top: 0 }));
    await expect(messagesWithText(owner.page, 'the launch date is a secret')).toHaveCount(1, { timeout: 1000 });
  }).toPass();
  await expect(owner.page.getByText('This is the beginning of the room.')).toBeVisible();
  const seqs = await owner.page.locator('ol.messages > li[data-seq]').evaluateAll((els) => els.map((e) => Number((e as HTMLElement).dataset.seq)));
  // Every stored event once, in order, none missing: the first message and all posted ones.
  expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => seqs[0]! + i));
  expect(seqs.length).toBeGreaterThanOrEqual(total + 1);
  await owner.context.close();
  await outsider.context.close();
});
