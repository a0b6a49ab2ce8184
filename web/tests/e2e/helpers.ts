/** Shared steps of the browser tests: people, rooms and screenshots, all through the UI or REST. */

import { type APIRequestContext, type Browser, type BrowserContext, type Page, expect } from '@playwright/test';
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
export const IMG_DIR = resolve(here, '../../../docs/img');
export const PASSWORD = 'correct horse battery staple';
let counter = 0;

/** A username no earlier run has taken (the local stack keeps its data across runs). */
export function uniqueName(base: string): string {
  counter += 1;
  return `${base}${Date.now().toString(36)}${counter}`;
}

export interface Person {
  username: string;
  displayName: string;
  context: BrowserContext;
  page: Page;
  /** What the Content-Security-Policy blocked on this person's pages: must stay empty. */
  cspViolations: string[];
}

/** Collect every CSP violation of the context's pages: the browser's own console report
 * ("Refused to ...") and each `securitypolicyviolation` event, so none goes unseen. */
async function watchCsp(context: BrowserContext): Promise<string[]> {
  const seen: string[] = [];
  await context.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) =>
      console.error(`csp-violation ${e.effectiveDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`),
    );
  });
  context.on('console', (msg) => {
    const text = msg.text();
    if (text.startsWith('csp-violation') || /Content Security Policy/i.test(text)) seen.push(text);
  });
  return seen;
}

export async function newPerson(browser: Browser, base: string, opts: { mobile?: boolean } = {}): Promise<Person> {
  const context = await browser.newContext(
    opts.mobile ? { viewport: { width: 375, height: 740 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true } : {},
  );
  const cspViolations = await watchCsp(context);
  const page = await context.newPage();
  const username = uniqueName(base);
  const displayName = base.charAt(0).toUpperCase() + base.slice(1);
  return { username, displayName, context, page, cspViolations };
}

/** Create the account through the sign-in screen, as a person would. */
export async function register(person: Person, beforeSubmit?: (page: Page) => Promise<void>): Promise<void> {
  const { page } = person;
  await page.goto('/');
  await page.getByRole('button', { name: 'Create an account' }).click();
  await page.getByLabel('Username').fill(person.username);
  await page.getByLabel('Display name (optional)').fill(person.displayName);
  await page.getByLabel('Password').fill(PASSWORD);
  if (beforeSubmit) await beforeSubmit(page);
  // Sign-ups are rate limited per address and every test browser shares 127.0.0.1: when the
  // page says to wait, wait as a person would, then try again.
  const rooms = page.getByRole('heading', { name: 'Your rooms' });
  const tooMany = page.getByRole('alert').filter({ hasText: 'Too many attempts' });
  for (let attempt = 1; ; attempt += 1) {
    await page.getByRole('button', { name: 'Create account' }).click();
    await expect(rooms.or(tooMany)).toBeVisible();
    if (await rooms.isVisible()) break;
    const wait = Number(/in (\d+) seconds/.exec((await tooMany.textContent()) ?? '')?.[1] ?? '5');
    expect(attempt, 'still rate limited after several waits').toBeLessThan(5);
    await page.waitForTimeout((wait + 1) * 1000);
  }
  await expectConnected(page);
}

/** Connected; the first connection of a fresh stack may wait for its functions to cold-start. */
export async function expectConnected(page: Page): Promise<void> {
  await expect(page.locator('.conn')).toHaveAttribute('data-state', 'connected', { timeout: 60_000 });
}

export async function createRoom(page: Page, name: string, visibility: 'public' | 'private' = 'public', topic = ''): Promise<string> {
  await page.locator('summary', { hasText: 'New room' }).click();
  const form = page.getByRole('form', { name: 'Create a room' });
  await form.getByLabel('Room name').fill(name);
  if (topic) await form.getByLabel('Topic (optional)').fill(topic);
  if (visibility === 'private') await form.getByLabel('Invited only (private)').check();
  await form.getByRole('button', { name: 'Create room' }).click();
  await expect(page.getByRole('heading', { level: 2, name: new RegExp(name) })).toBeVisible();
  return roomIdOf(page);
}

export function roomIdOf(page: Page): string {
  const id = /#\/rooms\/([0-9a-f-]{36})/.exec(page.url())?.[1];
  if (!id) throw new Error(`not in a room: ${page.url()}`);
  return id;
}

export async function joinPublicRoom(page: Page, name: string): Promise<void> {
  await page.locator('summary', { hasText: 'Find public rooms' }).click();
  await page.getByLabel('Search by name').fill(name);
  await page.getByRole('button', { name: 'Search' }).click();
  await page.getByRole('button', { name: `Join ${name}` }).click();
  await expect(page.getByRole('heading', { level: 2, name: new RegExp(name) })).toBeVisible();
}

export async function send(page: Page, text: string): Promise<void> {
  const box = page.getByRole('textbox', { name: /^Message / });
  await box.fill(text);
  await box.press('Enter');
}

/** The rows of the message list that show exactly this text as their body. */
export function messagesWithText(page: Page, text: string) {
  return page.locator('ol.messages > li').filter({ has: page.locator('.body', { hasText: new RegExp(`^${escape(text)}$`) }) });
}

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(IMG_DIR, { recursive: true });
  await page.screenshot({ path: resolve(IMG_DIR, name), animations: 'disabled', caret: 'hide' });
}

/** The access token the page keeps in localStorage. */
export async function sessionToken(page: Page): Promise<string> {
  const token = await page.evaluate(() => (JSON.parse(localStorage.getItem('chatflow.session') ?? '{}') as { token?: string }).token);
  if (!token) throw new Error('the page holds no session');
  return token;
}

/** Sign in through the sign-in screen. */
export async function signIn(page: Page, username: string, password: string): Promise<void> {
  await expect(page.getByRole('heading', { name: 'Sign in to ChatFlow' })).toBeVisible();
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
}

/** Post through the REST API with the page's session, waiting out rate limits. */
export async function postViaApi(page: Page, request: APIRequestContext, roomId: string, body: string): Promise<void> {
  const token = await sessionToken(page);
  for (let attempt = 1; attempt <= 10; attempt += 1) {
    const res = await request.post(`/api/rooms/${roomId}/messages`, { data: { body }, headers: { Authorization: `Bearer ${token}` } });
    if (res.status() !== 429) {
      expect(res.status()).toBe(201);
      return;
    }
    await page.waitForTimeout(Number(res.headers()['retry-after'] ?? '1') * 1000);
  }
  throw new Error('still rate limited');
}
