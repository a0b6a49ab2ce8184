/**
 * What owners, admins and every signed-in person manage from the page: room settings (rename,
 * topic, delete), roles in the members panel, and the password. Each change is checked from
 * the other person's browser too, and server refusals are checked beside the right field.
 */

import { type Page, expect, test } from '@playwright/test';
import {
  PASSWORD,
  createRoom,
  expectConnected,
  joinPublicRoom,
  messagesWithText,
  newPerson,
  register,
  screenshot,
  send,
  sessionToken,
  signIn,
  uniqueName,
} from './helpers';

function roomHeading(page: Page, name: string) {
  return page.getByRole('heading', { level: 2, name: new RegExp(name) });
}

function settingsButton(page: Page) {
  return page.getByRole('button', { name: 'Settings', exact: true });
}

test('the owner renames, hands out roles and deletes the room; the others see each change', async ({ browser }) => {
  const alice = await newPerson(browser, 'alice');
  const bob = await newPerson(browser, 'bob');
  await register(alice);
  await register(bob);
  const original = uniqueName('plans');
  await createRoom(alice.page, original, 'public', 'Weekly plans');
  await joinPublicRoom(bob.page, original);
  await expect(settingsButton(bob.page)).toBeHidden();

  // The server refuses an invisible formatting character; its words sit beside the name.
  await settingsButton(alice.page).click();
  await expect(alice.page.getByRole('heading', { name: 'Room settings' })).toBeFocused();
  const settings = alice.page.getByRole('region', { name: 'Room settings' });
  const name = settings.getByLabel('Room name');
  await name.fill(`${original}\u202e`);
  await alice.page.getByRole('button', { name: 'Save changes' }).click();
  await expect(name).toHaveAttribute('aria-invalid', 'true');
  await expect(name).toHaveAccessibleDescription(/^Must not contain invisible formatting characters/);
  await expect(name).toBeFocused();

  const renamed = uniqueName('roadmap');
  await name.fill(renamed);
  await settings.getByLabel('Topic (optional)').fill('Quarterly roadmap');
  await alice.page.getByRole('button', { name: 'Save changes' }).click();
  await expect(alice.page.getByRole('status').filter({ hasText: 'The room settings were saved.' })).toBeVisible();
  await expect(name).not.toHaveAttribute('aria-invalid', 'true');
  await expect(roomHeading(alice.page, renamed)).toBeVisible();
  await expect(alice.page.locator('.topic')).toHaveText('Quarterly roadmap');
  await screenshot(alice.page, 'settings.png');
  await alice.page.getByRole('button', { name: 'Close room settings' }).click();
  await expect(settingsButton(alice.page)).toBeFocused();

  // Bob sees the new name and topic at once (a live room_updated event; nothing refreshed).
  await expect(roomHeading(bob.page, renamed)).toBeVisible();
  await expect(bob.page.locator('.topic')).toHaveText('Quarterly roadmap');
  await expect(bob.page.getByRole('link', { name: new RegExp(`^${renamed} \\(Public room`) })).toBeVisible();
  await expect(bob.page.getByRole('link', { name: new RegExp(`^${original} `) })).toHaveCount(0);

  // The owner makes Bob an admin: both panels show it, Bob is told and gets the settings.
  await alice.page.getByRole('button', { name: 'Members', exact: true }).click();
  await bob.page.getByRole('button', { name: 'Members', exact: true }).click();
  await alice.page.getByRole('button', { name: `Make ${bob.displayName} an admin` }).click();
  await expect(alice.page.locator(`.member[data-user="${bob.username}"] .role`)).toHaveText('admin');
  await expect(alice.page.getByRole('button', { name: `Make ${bob.displayName} a member` })).toBeFocused();
  await expect(bob.page.locator('ol.messages > li.system', { hasText: `${bob.displayName} is now an admin` })).toHaveCount(1);
  await expect(bob.page.locator(`.member[data-user="${bob.username}"] .role`)).toHaveText('admin');
  await expect(settingsButton(bob.page)).toBeVisible();
  // An admin renames too, but only the owner may delete.
  await settingsButton(bob.page).click();
  await expect(bob.page.getByRole('region', { name: 'Room settings' }).getByLabel('Room name')).toHaveValue(renamed);
  await expect(bob.page.getByRole('button', { name: 'Delete room' })).toBeHidden();
  await expect(bob.page.getByRole('button', { name: /^Make / })).toHaveCount(0);

  // And back to member: the role badge goes and the settings close for Bob.
  await alice.page.getByRole('button', { name: `Make ${bob.displayName} a member` }).click();
  await expect(alice.page.locator(`.member[data-user="${bob.username}"] .role`)).toHaveCount(0);
  await expect(bob.page.locator('ol.messages > li.system', { hasText: `${bob.displayName} is now a member` })).toHaveCount(1);
  await expect(settingsButton(bob.page)).toBeHidden();
  await expect(bob.page.getByRole('heading', { name: 'Room settings' })).toBeHidden();
  await expect(bob.page.locator(`.member[data-user="${bob.username}"] .role`)).toHaveCount(0);

  // The owner deletes the room after confirming; Bob, who is in it, is told and loses it.
  await send(alice.page, 'closing this room');
  await expect(messagesWithText(bob.page, 'closing this room')).toHaveCount(1);
  await settingsButton(alice.page).click();
  let question = '';
  alice.page.once('dialog', (d) => {
    question = d.message();
    void d.accept();
  });
  await alice.page.getByRole('button', { name: 'Delete room' }).click();
  await expect(alice.page.getByRole('status').filter({ hasText: `You deleted ${renamed}.` })).toBeVisible();
  expect(question).toContain(`Delete ${renamed} and all of its messages for everyone?`);
  await expect(alice.page.getByRole('link', { name: new RegExp(`^${renamed} `) })).toHaveCount(0);
  await expect(bob.page.getByRole('alert').filter({ hasText: 'This room was deleted.' })).toBeVisible();
  await expect(bob.page.getByRole('link', { name: new RegExp(`^${renamed} `) })).toHaveCount(0);
  await expect(bob.page.getByRole('textbox', { name: /^Message / })).toBeHidden();
  // Alice saw no "room unavailable" page for her own deletion.
  await expect(alice.page.getByRole('heading', { name: 'Room unavailable' })).toHaveCount(0);

  await alice.context.close();
  await bob.context.close();
});

test('a deleted room the member is not looking at leaves the list with a notice', async ({ browser }) => {
  const owner = await newPerson(browser, 'olive');
  const member = await newPerson(browser, 'pete');
  await register(owner);
  await register(member);
  const doomed = uniqueName('doomed');
  await createRoom(owner.page, doomed);
  await joinPublicRoom(member.page, doomed);
  await member.page.goto('/#/');
  await expect(member.page.getByRole('link', { name: new RegExp(`^${doomed} `) })).toBeVisible();

  await settingsButton(owner.page).click();
  owner.page.once('dialog', (d) => void d.accept());
  await owner.page.getByRole('button', { name: 'Delete room' }).click();
  await expect(owner.page.getByRole('status').filter({ hasText: `You deleted ${doomed}.` })).toBeVisible();
  await expect(member.page.getByRole('alert').filter({ hasText: `This room was deleted. (${doomed})` })).toBeVisible();
  await expect(member.page.getByRole('link', { name: new RegExp(`^${doomed} `) })).toHaveCount(0);
  await owner.context.close();
  await member.context.close();
});

test('a changed password keeps this page signed in; the old password and token are refused', async ({ browser, request }) => {
  const carol = await newPerson(browser, 'carol');
  await register(carol);
  const room = uniqueName('notes');
  await createRoom(carol.page, room);
  const oldToken = await sessionToken(carol.page);
  const fresh = 'a brand new passphrase';

  await carol.page.getByRole('link', { name: 'Account' }).click();
  await expect(carol.page.getByRole('heading', { name: 'Your account' })).toBeFocused();
  const current = carol.page.getByLabel('Current password', { exact: true });
  const next = carol.page.getByLabel('New password', { exact: true });
  const repeat = carol.page.getByLabel('Repeat the new password', { exact: true });
  const change = carol.page.getByRole('button', { name: 'Change password' });

  // The page catches a mismatch; the server's rules come back beside the field they are about.
  await current.fill(PASSWORD);
  await next.fill(fresh);
  await repeat.fill('something else');
  await change.click();
  await expect(repeat).toHaveAccessibleDescription('The two new passwords do not match.');
  await next.fill('short');
  await repeat.fill('short');
  await change.click();
  await expect(next).toHaveAccessibleDescription('Use at least 8 characters. At least 8 characters.');
  await expect(next).toHaveAttribute('aria-invalid', 'true');
  await expect(repeat).not.toHaveAttribute('aria-invalid', 'true');
  await current.fill('not my password');
  await next.fill(fresh);
  await repeat.fill(fresh);
  await change.click();
  await expect(current).toHaveAccessibleDescription('Does not match the current password.');
  await expect(current).toBeFocused();
  await expect(next).not.toHaveAttribute('aria-invalid', 'true');

  // Every connection state the page shows from here on, to check it is never refused.
  await carol.page.evaluate(() => {
    const seen: string[] = [];
    (window as unknown as { connTexts: string[] }).connTexts = seen;
    const el = document.querySelector('.conn-text')!;
    new MutationObserver(() => seen.push(el.textContent ?? '')).observe(el, { childList: true, characterData: true, subtree: true });
  });
  await current.fill(PASSWORD);
  await next.fill(fresh);
  await repeat.fill(fresh);
  await change.click();
  await expect(carol.page.getByRole('status').filter({ hasText: 'Your password was changed.' })).toBeVisible();
  await expect(current).toHaveValue('');

  // The answer carried a new token; the page keeps it and the old one no longer works.
  const newToken = await sessionToken(carol.page);
  expect(newToken).not.toBe(oldToken);
  expect((await request.get('/api/users/me', { headers: { Authorization: `Bearer ${oldToken}` } })).status()).toBe(401);
  expect((await request.get('/api/users/me', { headers: { Authorization: `Bearer ${newToken}` } })).status()).toBe(200);

  // The session goes on: the page talks, and after a reload connects with the new token.
  await carol.page.getByRole('link', { name: new RegExp(`^${room} `) }).click();
  await send(carol.page, 'still here');
  await expect(messagesWithText(carol.page, 'still here')).toHaveAttribute('data-delivery', 'stored');
  // The page moved its connection to the new token instead of being refused under the old one.
  await expectConnected(carol.page);
  const states = await carol.page.evaluate(() => (window as unknown as { connTexts: string[] }).connTexts);
  expect(states.filter((t) => t.startsWith('Offline'))).toEqual([]);
  await carol.page.reload();
  await expectConnected(carol.page);
  await expect(messagesWithText(carol.page, 'still here')).toHaveCount(1);

  // Sign out; the old password is refused, the new one signs in.
  await carol.page.getByRole('button', { name: 'Sign out' }).click();
  await signIn(carol.page, carol.username, PASSWORD);
  await expect(carol.page.getByRole('alert').filter({ hasText: 'That username and password do not match.' })).toBeVisible();
  await signIn(carol.page, carol.username, fresh);
  await expect(carol.page.getByRole('heading', { name: 'Your rooms' })).toBeVisible();
  await expectConnected(carol.page);
  await expect(carol.page.getByRole('link', { name: new RegExp(`^${room} `) })).toBeVisible();
  await carol.context.close();
});
