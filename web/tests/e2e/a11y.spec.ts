/**
 * An automated accessibility audit: axe-core checks every main screen against the WCAG 2.1 A
 * and AA rules, in the states a person sees them (errors shown beside fields, a message that
 * was not sent, the connection lost, panels open, a phone-sized screen). Any violation fails
 * the test, and the report names the rule, its impact and the elements that break it.
 */

import AxeBuilder from '@axe-core/playwright';
import { type Page, type WebSocketRoute, expect, test } from '@playwright/test';
import {
  PASSWORD,
  type Person,
  createRoom,
  expectConnected,
  joinPublicRoom,
  messagesWithText,
  newPerson,
  register,
  send,
  signIn,
  uniqueName,
} from './helpers';

const WCAG_21_AA = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'];

/** Every WCAG 2.1 A/AA violation on the page as it is now: rule, impact, help text and the elements. */
async function violations(page: Page): Promise<string[]> {
  const { violations: found } = await new AxeBuilder({ page }).withTags(WCAG_21_AA).analyze();
  return found.map((v) => {
    const where = v.nodes.map((n) => `    ${n.target.join(' >> ')}`).join('\n');
    return `${v.id} (${v.impact ?? 'unknown impact'}): ${v.help}\n${where}`;
  });
}

/** Audit one screen; a violation fails the test, which still goes on to audit the next screens. */
async function audit(page: Page, screen: string): Promise<void> {
  expect.soft(await violations(page), `axe found WCAG 2.1 A/AA violations on: ${screen}`).toEqual([]);
}

/** Cut the person's WebSockets and keep them down until `online` is called. */
async function cuttable(person: Person): Promise<{ offline(): Promise<void>; online(): Promise<void> }> {
  const sockets: WebSocketRoute[] = [];
  await person.page.routeWebSocket(/.*/, (ws) => {
    sockets.push(ws);
    ws.connectToServer();
  });
  return {
    async offline() {
      await person.context.setOffline(true);
      for (const ws of sockets) await ws.close({ code: 1006, reason: 'network down' }).catch(() => undefined);
      await expect(person.page.locator('.conn')).toHaveAttribute('data-state', 'waiting');
    },
    async online() {
      await person.context.setOffline(false);
      await expectConnected(person.page);
    },
  };
}

async function openAllRoomPanels(page: Page): Promise<void> {
  for (const name of ['New room', 'Find public rooms', 'Message a person']) {
    const details = page.locator('details', { has: page.locator('summary', { hasText: name }) });
    if ((await details.getAttribute('open')) === null) await details.locator('summary').click();
  }
}

test('sign-in and account creation, with the errors they show', async ({ browser }) => {
  const visitor = await newPerson(browser, 'quinn');
  const { page } = visitor;
  await page.goto('/');
  await expect(page.getByRole('heading', { name: 'Sign in to ChatFlow' })).toBeVisible();
  await audit(page, 'the sign-in form');

  await signIn(page, visitor.username, PASSWORD);
  await expect(page.getByRole('alert').filter({ hasText: 'That username and password do not match.' })).toBeVisible();
  await audit(page, 'the sign-in form after a refused password');

  await page.getByRole('button', { name: 'Create an account' }).click();
  await expect(page.getByRole('heading', { name: 'Create your ChatFlow account' })).toBeVisible();
  await page.getByLabel('Username').fill(visitor.username);
  await page.getByLabel('Password').fill('short');
  await page.getByRole('button', { name: 'Create account' }).click();
  const password = page.getByLabel('Password');
  await expect(password).toHaveAttribute('aria-invalid', 'true');
  await expect(password).toHaveAccessibleDescription(/8 characters/);
  await audit(page, 'the account form with the server’s error beside the password');

  // The audit itself: a field without a label and faint text planted in the page are reported.
  await page.evaluate(() => {
    const form = document.querySelector('form')!;
    form.append(Object.assign(document.createElement('input'), { type: 'text', className: 'planted' }));
    form.append(Object.assign(document.createElement('p'), { textContent: 'faint words', style: 'color: #ccc' }));
  });
  const planted = await violations(page);
  expect(planted.map((line) => line.split(' ')[0])).toEqual(expect.arrayContaining(['label', 'color-contrast']));
  expect(planted.join('\n')).toContain('.planted');
  await visitor.context.close();
});

test('the signed-in screens on a desktop', async ({ browser }) => {
  const alice = await newPerson(browser, 'alice');
  const bob = await newPerson(browser, 'bob');
  const network = await cuttable(alice);
  await register(alice);
  await register(bob);
  const { page } = alice;

  await audit(page, 'the room list before any room');
  const lobby = uniqueName('lobby');
  await createRoom(page, lobby, 'public', 'Say hello');
  await joinPublicRoom(bob.page, lobby);
  await expect(page.locator('ol.messages li.system', { hasText: `${bob.displayName} joined` })).toBeVisible();

  // The chat with messages both ways, an edited one, a deleted one and someone typing.
  await send(page, 'Hello Bob!');
  await expect(messagesWithText(page, 'Hello Bob!')).toHaveAttribute('data-delivery', 'stored');
  await send(bob.page, 'Hi Alice, how are you?');
  await expect(messagesWithText(page, 'Hi Alice, how are you?')).toHaveCount(1);
  await send(page, 'oops');
  page.once('dialog', (d) => void d.accept());
  await messagesWithText(page, 'oops').getByRole('button', { name: /^Delete your message/ }).click();
  await expect(messagesWithText(page, 'This message was deleted.')).toHaveCount(1);
  await bob.page.getByRole('textbox', { name: /^Message / }).pressSequentially('I am wri', { delay: 20 });
  await expect(page.locator('.typing')).toHaveText(`${bob.displayName} is typing…`);
  await audit(page, 'an open chat with messages');

  await messagesWithText(page, 'Hello Bob!').getByRole('button', { name: /^Edit your message/ }).click();
  await expect(page.getByLabel('Edit message')).toBeFocused();
  await audit(page, 'an open chat while editing a message');
  await page.getByLabel('Edit message').press('Escape');

  // The connection is lost: the bar says so, and a message sent meanwhile shows "Not sent".
  await network.offline();
  await send(page, 'are you still there?');
  await expect(messagesWithText(page, 'are you still there?')).toHaveAttribute('data-delivery', 'failed');
  await audit(page, 'an open chat, offline, with a message not sent');
  await network.online();
  await expect(messagesWithText(page, 'are you still there?')).toHaveAttribute('data-delivery', 'stored');

  await page.getByRole('button', { name: 'Members', exact: true }).click();
  await expect(page.getByRole('heading', { name: 'Members' })).toBeFocused();
  await expect(page.locator(`.member[data-user="${bob.username}"]`)).toHaveAttribute('data-presence', 'online');
  await page.getByLabel('Username', { exact: true }).fill(uniqueName('nobody'));
  await page.getByRole('button', { name: 'Add', exact: true }).click();
  await expect(page.getByRole('alert').filter({ hasText: 'There is no user called' })).toBeVisible();
  await audit(page, 'the members panel, with an error from adding a member');
  await page.getByRole('button', { name: 'Close members' }).click();

  await page.getByRole('button', { name: 'Settings', exact: true }).click();
  await expect(page.getByRole('heading', { name: 'Room settings' })).toBeFocused();
  const roomName = page.getByRole('region', { name: 'Room settings' }).getByLabel('Room name');
  await roomName.fill(`${lobby}\u202e`);
  await page.getByRole('button', { name: 'Save changes' }).click();
  await expect(roomName).toHaveAttribute('aria-invalid', 'true');
  await audit(page, 'the room settings panel, with an error beside the name');
  await page.getByRole('button', { name: 'Close room settings' }).click();

  // Bob writes while Alice is elsewhere: her room list shows an unread count.
  await page.getByRole('link', { name: 'Account' }).click();
  await expect(page.getByRole('heading', { name: 'Your account' })).toBeFocused();
  await send(bob.page, 'Lunch at noon?');
  await expect(messagesWithText(bob.page, 'Lunch at noon?')).toHaveAttribute('data-delivery', 'stored');
  await page.getByLabel('Current password', { exact: true }).fill(PASSWORD);
  await page.getByLabel('New password', { exact: true }).fill('a brand new passphrase');
  await page.getByLabel('Repeat the new password', { exact: true }).fill('something else');
  await page.getByRole('button', { name: 'Change password' }).click();
  await expect(page.getByLabel('Repeat the new password', { exact: true })).toHaveAttribute('aria-invalid', 'true');
  await expect(page.getByRole('link', { name: new RegExp(`^${lobby} \\(Public room, 1 unread\\)`) })).toBeVisible();
  await audit(page, 'the account page, with an error beside a field, and an unread room');

  await page.goto('/#/rooms/00000000-0000-4000-8000-000000000000');
  await expect(page.getByRole('heading', { name: 'Room unavailable' })).toBeFocused();
  await audit(page, 'a room that does not exist');

  await page.goto('/#/');
  await openAllRoomPanels(page);
  await page.getByLabel('Search by name').fill(lobby.slice(0, 5));
  await page.getByRole('button', { name: 'Search' }).click();
  await expect(page.getByRole('status').filter({ hasText: /public rooms? found/ })).toBeVisible();
  await audit(page, 'the room list with every panel open and search results');

  await alice.context.close();
  await bob.context.close();
});

test('the chat on a phone-sized screen', async ({ browser }) => {
  const alice = await newPerson(browser, 'alice');
  const bob = await newPerson(browser, 'bob', { mobile: true });
  const network = await cuttable(bob);
  await register(alice);
  await register(bob, (page) => audit(page, 'the account form on a phone'));
  const room = uniqueName('standup');
  await createRoom(alice.page, room, 'public', 'Daily notes');
  const { page } = bob;
  await audit(page, 'the room list on a phone');

  await joinPublicRoom(page, room);
  await send(alice.page, 'Morning! Standup in five.');
  await expect(messagesWithText(page, 'Morning! Standup in five.')).toHaveCount(1);
  await send(page, 'On my way');
  await expect(messagesWithText(page, 'On my way')).toHaveAttribute('data-delivery', 'stored');
  await audit(page, 'an open chat on a phone');

  await network.offline();
  await send(page, 'my train is late');
  await expect(messagesWithText(page, 'my train is late')).toHaveAttribute('data-delivery', 'failed');
  await audit(page, 'an open chat on a phone, offline, with a message not sent');
  await network.online();

  await page.getByRole('button', { name: 'Members', exact: true }).click();
  await expect(page.getByRole('heading', { name: 'Members' })).toBeFocused();
  await audit(page, 'the members panel on a phone');
  await page.getByRole('button', { name: 'Close members' }).click();

  await page.getByRole('link', { name: 'Account' }).click();
  await expect(page.getByRole('heading', { name: 'Your account' })).toBeFocused();
  await audit(page, 'the account page on a phone');

  await alice.context.close();
  await bob.context.close();
});
