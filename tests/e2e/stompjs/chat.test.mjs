// ChatFlow through @stomp/stompjs, unmodified, under Node: what the browser client does.
//
// The socket comes from the `ws` package, opened as a browser opens it: with the ticket in
// the URL and the STOMP subprotocols offered. REST calls use fetch. The stack's URLs come
// from CHATFLOW_HTTP and CHATFLOW_WS (tests/e2e/test_stompjs.py sets them).
//
// The e2e stack closes idle connections quickly (IDLE_TIMEOUT); as a margin, each socket also sends a bare EOL heart-beat every second (CHATFLOW_KEEPALIVE_MS).

import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, test } from 'node:test';

import { Client } from '@stomp/stompjs';
import WebSocket from 'ws';

const HTTP = process.env.CHATFLOW_HTTP ?? 'http://127.0.0.1:3000';
const WS = process.env.CHATFLOW_WS ?? 'ws://127.0.0.1:3001';
const KEEPALIVE_MS = Number(process.env.CHATFLOW_KEEPALIVE_MS ?? 1000);
const WAIT_MS = 60_000;
const SUBPROTOCOLS = ['v12.stomp', 'v11.stomp', 'v10.stomp'];
const PASSWORD = 'e2e-password-1';

// Register and login share a per-address rate limit; wait as a 429 asks.
async function rest(path, { token, body, method = 'POST' } = {}) {
  for (let attempt = 0; attempt < 30; attempt += 1) {
    const response = await fetch(HTTP + path, {
      method,
      headers: {
        'content-type': 'application/json',
        ...(token ? { authorization: `Bearer ${token}` } : {}),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (response.status === 429) {
      await sleep(1000 * Number(response.headers.get('retry-after') ?? '1'));
      continue;
    }
    const text = await response.text();
    assert.ok(response.ok, `${method} ${path}: ${response.status} ${text}`);
    return text ? JSON.parse(text) : null;
  }
  throw new Error(`${method} ${path}: still rate limited`);
}

async function account() {
  const credentials = { username: `js${randomUUID().slice(0, 10)}`, password: PASSWORD };
  await rest('/api/auth/register', { body: credentials });
  const login = await rest('/api/auth/login', { body: credentials });
  return { id: login.user.id, username: credentials.username, token: login.accessToken };
}

function keepAlive(socket) {
  const timer = setInterval(() => {
    if (socket.readyState === WebSocket.OPEN) socket.send('\n');
  }, KEEPALIVE_MS);
  socket.on('close', () => clearInterval(timer));
  return socket;
}

function withTimeout(promise, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), WAIT_MS);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

// One user's stompjs Client, with every MESSAGE it received kept for the test to wait on.
class Session {
  constructor(user) {
    this.user = user;
    this.messages = [];
    this.errors = [];
    this.connects = 0;
    this.gate = null; // a promise that holds the next (re)connect back until it settles
    this.waiters = new Set();
    this.client = new Client({
      // A ticket works once: fetch a fresh one before every connect, reconnects included.
      beforeConnect: async () => {
        if (this.gate) await this.gate;
        const { ticket } = await rest('/api/auth/ws-ticket', { token: user.token });
        this.url = `${WS}/?ticket=${encodeURIComponent(ticket)}`;
      },
      webSocketFactory: () => keepAlive(new WebSocket(this.url, SUBPROTOCOLS)),
      reconnectDelay: 200,
      connectionTimeout: WAIT_MS,
      onConnect: () => {
        this.connects += 1;
        this.notify();
      },
      onWebSocketClose: () => this.notify(),
      onStompError: (frame) => {
        this.errors.push(frame);
        this.notify();
      },
      debug: () => {},
    });
  }

  notify() {
    for (const waiter of this.waiters) waiter();
  }

  until(condition, what) {
    return withTimeout(
      new Promise((resolve) => {
        const check = () => {
          const value = condition();
          if (value) {
            this.waiters.delete(check);
            resolve(value);
          }
        };
        this.waiters.add(check);
        check();
      }),
      what,
    );
  }

  async connect() {
    const connected = this.connects + 1;
    this.client.activate();
    await this.until(() => this.connects >= connected, `${this.user.username} connected`);
  }

  receipt(receiptId) {
    return withTimeout(
      new Promise((resolve) => this.client.watchForReceipt(receiptId, resolve)),
      `RECEIPT ${receiptId}`,
    );
  }

  async subscribe(roomId, since) {
    const receiptId = `s-${randomUUID()}`;
    const headers = { receipt: receiptId };
    if (since !== undefined) headers['x-since-seq'] = String(since);
    const stored = this.receipt(receiptId);
    const subscription = this.client.subscribe(
      `/topic/rooms/${roomId}`,
      (message) => {
        this.messages.push(message);
        this.notify();
      },
      headers,
    );
    await stored;
    return subscription.id;
  }

  async say(roomId, text) {
    const receiptId = `m-${randomUUID()}`;
    const stored = this.receipt(receiptId);
    this.client.publish({
      destination: `/app/rooms/${roomId}`,
      body: JSON.stringify({ body: text, clientMsgId: randomUUID() }),
      headers: { receipt: receiptId, 'content-type': 'application/json' },
    });
    const frame = await stored;
    assert.equal(frame.headers['x-duplicate'], 'false');
    return Number(frame.headers['x-seq']);
  }

  event(wanted, what) {
    return this.until(
      () => this.messages.map((m) => JSON.parse(m.body)).find(wanted),
      `${this.user.username}: ${what}`,
    );
  }

  heard(roomId, text) {
    return this.event((b) => b.type === 'message' && b.roomId === roomId && b.body === text, text);
  }
}

let alice;
let bob;
let room;

before(async () => {
  const [a, b] = [await account(), await account()];
  room = (await rest('/api/rooms', { token: a.token, body: { name: 'stompjs', visibility: 'public' } })).id;
  await rest(`/api/rooms/${room}/join`, { token: b.token });
  alice = new Session(a);
  bob = new Session(b);
});

after(async () => {
  await Promise.all([alice, bob].filter(Boolean).map((s) => s.client.deactivate()));
});

test('connects with a ticket, negotiating the v12.stomp subprotocol and STOMP 1.2', async () => {
  await alice.connect();
  await bob.connect();
  for (const session of [alice, bob]) {
    assert.equal(session.client.webSocket.protocol, 'v12.stomp');
    assert.equal(session.client.connectedVersion, '1.2');
    assert.deepEqual(session.errors, []);
  }
});

test('shows a subscriber online to the room', async () => {
  await alice.subscribe(room);
  await alice.event((b) => b.type === 'presence' && b.user.id === alice.user.id, 'alice online');
  await bob.subscribe(room);
  const online = await alice.event(
    (b) => b.type === 'presence' && b.user.id === bob.user.id,
    'bob online',
  );
  assert.deepEqual(
    [online.status, online.roomId, online.user.username],
    ['online', room, bob.user.username],
  );
});

test('exchanges messages both ways, each acknowledged by a receipt with its seq', async () => {
  const hello = await alice.say(room, 'hello from stompjs');
  const atBob = await bob.heard(room, 'hello from stompjs');
  assert.deepEqual([atBob.seq, atBob.sender.id], [hello, alice.user.id]);
  const reply = await bob.say(room, 'hello back');
  const atAlice = await alice.heard(room, 'hello back');
  assert.deepEqual([atAlice.seq, atAlice.sender.id], [reply, bob.user.id]);
  assert.ok(reply > hello);
  const frame = alice.messages.find((m) => JSON.parse(m.body).seq === reply);
  assert.equal(frame.headers['message-id'], `${room}:${reply}`);
  assert.equal(frame.headers['content-type'], 'application/json');
});

test('recovers the messages missed while away with x-since-seq after a reconnect', async () => {
  const seen = Math.max(...alice.messages.map((m) => JSON.parse(m.body).seq ?? 0));
  let release;
  alice.gate = new Promise((resolve) => {
    release = resolve;
  });
  const dropped = alice.until(() => !alice.client.connected, 'alice dropped');
  alice.client.forceDisconnect(); // as a network drop: stompjs reconnects on its own
  await dropped;

  const missed = [];
  for (const n of [1, 2, 3]) missed.push(await bob.say(room, `missed ${n}`));
  const before = alice.messages.length;
  alice.gate = null;
  release();
  await alice.until(() => alice.connects === 2 && alice.client.connected, 'alice reconnected');
  await alice.subscribe(room, seen);

  const marker = await alice.event((b) => b.type === 'replay', 'replay marker');
  assert.deepEqual(marker, { type: 'replay', roomId: room, complete: true, lastSeq: missed.at(-1) });
  const replayed = alice.messages.slice(before).filter((m) => m.headers['x-replay'] === 'true');
  assert.deepEqual(
    replayed.map((m) => JSON.parse(m.body).seq),
    missed,
  );
  assert.deepEqual(
    replayed.map((m) => JSON.parse(m.body).body),
    ['missed 1', 'missed 2', 'missed 3'],
  );
  assert.equal(alice.client.webSocket.protocol, 'v12.stomp');

  const live = await bob.say(room, 'welcome back');
  assert.equal((await alice.heard(room, 'welcome back')).seq, live);
});
