/**
 * The signed-in page: owns the state (rooms, timelines, presence, typing, members), routes
 * `#/rooms/<id>`, and connects the views to the REST API and the STOMP connection.
 */

import { type Api, ApiError } from './api';
import type { Endpoints } from './config';
import { clear, h, newClientMsgId } from './dom';
import { canEditRoom } from './permissions';
import { SendFailed, Connection, type ConnectionState } from './stomp';
import { Timeline } from './store';
import type { Member, Message, Notification, Role, Room, RoomEvent, User } from './types';
import { AccountView } from './views/account';
import { ChatView } from './views/chat';
import { MembersView } from './views/members';
import { RoomsView, message as errorText, roomLabel } from './views/rooms';
import { RoomSettingsView } from './views/settings';
import { Shell } from './views/shell';

const PAGE = 50;
const TYPING_SEND_MS = 3000;
const TYPING_SHOW_MS = 6000;
const ROOMS_REFRESH_MS = 30_000;

export class App {
  private readonly rooms = new Map<string, Room>();
  private readonly timelines = new Map<string, Timeline>();
  private readonly online = new Map<string, Set<string>>();
  private readonly typers = new Map<string, Map<string, { name: string; until: number }>>();
  private readonly members = new Map<string, Member[]>();
  private readonly resendOnConnect = new Set<string>();
  private readonly lastRead = new Map<string, number>();
  /** Display names by user id, learned from messages and member lists (live events may lack them). */
  private readonly names = new Map<string, string>();
  /** Rooms this page is deleting: their `room_deleted` notice is expected, not news. */
  private readonly deleting = new Set<string>();
  /** Rooms a notice told of that are being loaded, so two notices load one once. */
  private readonly learning = new Set<string>();
  private lastConnection: ConnectionState['status'] = 'stopped';
  private current: string | null = null;
  private membersOpen = false;
  private settingsOpen = false;
  private lastTypingSent = 0;
  private wasConnected = false;
  private readonly conn: Connection;
  private readonly shell: Shell;
  private readonly roomsView: RoomsView;
  private readonly chat: ChatView;
  private readonly membersView: MembersView;
  private readonly settingsView: RoomSettingsView;
  private readonly accountView: AccountView;
  private readonly main: HTMLElement;
  private readonly gate: HTMLElement;
  private readonly timers: ReturnType<typeof setInterval>[] = [];
  private readonly onHash = (): void => void this.route();
  private readonly onFocus = (): void => void this.refreshRooms();

  constructor(
    private readonly root: HTMLElement,
    private readonly api: Api,
    endpoints: Endpoints,
    private readonly me: User,
    private readonly signOut: (notice: string) => void,
  ) {
    this.conn = new Connection({
      wsUrl: endpoints.ws,
      fetchTicket: () => this.api.wsTicket(),
      onState: (s) => this.onConnection(s),
      onNotification: (n) => this.onNotification(n),
      onSessionEnded: () => this.signOut('Your session has ended. Please sign in again.'),
      onProblem: (text) => this.shell.showAlert(text, 'request'),
    });
    this.shell = new Shell(me, () => void this.logout(), () => this.conn.reconnectNow());
    this.roomsView = new RoomsView(
      {
        create: async (name, topic, visibility) => {
          const room = await this.api.createRoom(name, topic, visibility);
          this.addRoom(room);
          location.hash = `#/rooms/${room.id}`;
        },
        search: (q) => this.api.searchPublic(q),
        join: async (room) => {
          const joined = await this.api.join(room.id);
          this.addRoom(joined);
          location.hash = `#/rooms/${joined.id}`;
        },
        direct: async (username) => {
          const room = await this.api.directRoom(username);
          this.addRoom(room);
          location.hash = `#/rooms/${room.id}`;
        },
      },
      me.username,
    );
    this.chat = new ChatView(
      {
        send: (body) => this.send(body),
        retry: (cid) => this.retry(cid),
        edit: async (seq, body) => {
          const id = this.current;
          if (!id) return;
          const updated = await this.api.editMessage(id, seq, body);
          this.timelines.get(id)?.update(updated);
          this.chat.render();
        },
        remove: async (seq) => {
          const id = this.current;
          if (id) await this.api.deleteMessage(id, seq);
        },
        loadOlder: () => this.loadOlder(),
        typing: () => this.typing(),
        leave: () => this.leave(),
        toggleMembers: () => this.setMembersOpen(!this.membersOpen),
        toggleSettings: () => this.setSettingsOpen(!this.settingsOpen),
        seen: (seq) => this.seen(seq),
      },
      me.username,
    );
    this.membersView = new MembersView(
      {
        add: async (username, role) => {
          const id = this.current;
          if (!id) return;
          await this.api.addMember(id, username, role);
          await this.loadMembers(id);
        },
        remove: async (member) => {
          const id = this.current;
          if (!id) return;
          await this.api.removeMember(id, member.user.id);
          await this.loadMembers(id);
        },
        changeRole: async (member, role) => {
          const id = this.current;
          if (!id) return;
          await this.api.changeRole(id, member.user.id, role);
          await this.loadMembers(id);
        },
        close: () => this.setMembersOpen(false),
      },
      me.id,
    );
    this.settingsView = new RoomSettingsView({
      save: async (changes) => {
        const id = this.current;
        if (id) this.mergeRoom(await this.api.updateRoom(id, changes));
      },
      remove: () => this.deleteRoom(),
      close: () => this.setSettingsOpen(false),
    });
    this.chat.attachPanel(this.settingsView.el);
    this.accountView = new AccountView(
      {
        changePassword: async (current, next) => {
          // The Api hands the new token to the session before this resolves; the STOMP
          // connection, opened under the old token, is refused from now on: open a new one.
          await this.api.changePassword(current, next);
          this.conn.renew();
        },
      },
      me,
    );
    this.gate = h('div', { class: 'gate' });
    this.main = h('main', { id: 'main', class: 'main', tabindex: '-1' }, this.chat.el, this.gate, this.accountView.el);
    this.shell.body.append(this.roomsView.el, this.main, this.membersView.el);
  }

  async start(): Promise<void> {
    clear(this.root);
    this.root.append(this.shell.el);
    this.conn.start();
    window.addEventListener('hashchange', this.onHash);
    window.addEventListener('focus', this.onFocus);
    this.timers.push(setInterval(() => this.expireTyping(), 1000));
    this.timers.push(setInterval(() => void this.refreshRooms(), ROOMS_REFRESH_MS));
    await this.refreshRooms();
    await this.route();
  }

  destroy(): void {
    this.conn.stop();
    this.shell.destroy();
    window.removeEventListener('hashchange', this.onHash);
    window.removeEventListener('focus', this.onFocus);
    for (const t of this.timers) clearInterval(t);
  }

  // -- rooms --------------------------------------------------------------------------------

  private async refreshRooms(): Promise<void> {
    // A room joined or created while the list is on its way is not in it yet: keep it.
    const knownBefore = new Set(this.rooms.keys());
    let mine: Room[];
    try {
      mine = await this.api.myRooms();
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 401)) this.shell.showAlert(`Your rooms could not be loaded. ${errorText(err)}`, 'rooms');
      return;
    }
    this.shell.resolved('rooms');
    const seen = new Set<string>();
    for (const room of mine) {
      seen.add(room.id);
      if (room.id === this.current) room.unread = 0;
      this.addRoom(room, false);
    }
    for (const id of knownBefore) {
      if (seen.has(id) || !this.rooms.has(id)) continue;
      if (id === this.current) this.lostRoom(id, 'This room was deleted, or you are no longer a member of it.');
      else this.forgetRoom(id);
    }
    this.renderRooms();
    const open = this.current ? this.rooms.get(this.current) : undefined;
    if (open) this.showRoomChrome(open);
  }

  /** A room as the server returned it after a change: keep what only this page knows. */
  private mergeRoom(room: Room): void {
    const known = this.rooms.get(room.id);
    if (!known) return;
    const merged = { ...room, lastSeq: Math.max(room.lastSeq, known.lastSeq), unread: known.unread };
    this.rooms.set(room.id, merged);
    this.renderRooms();
    if (this.current === room.id) this.showRoomChrome(merged);
  }

  /** The parts of the open room that follow its name, topic and my role. */
  private showRoomChrome(room: Room): void {
    this.chat.setHeader(room);
    const editable = canEditRoom(room);
    this.chat.settingsButton.hidden = !editable;
    if (this.settingsOpen && !editable) this.setSettingsOpen(false, false);
    if (this.settingsOpen) this.settingsView.show(room);
    this.renderMembers();
  }

  private async deleteRoom(): Promise<void> {
    const id = this.current;
    const room = id ? this.rooms.get(id) : undefined;
    if (!id || !room) return;
    this.deleting.add(id);
    try {
      await this.api.deleteRoom(id);
    } catch (err) {
      this.deleting.delete(id);
      throw err;
    }
    this.forgetRoom(id);
    this.roomsView.notify(`You deleted ${room.name}.`);
    location.hash = '#/';
  }

  private addRoom(room: Room, render = true): void {
    const known = this.rooms.get(room.id);
    this.rooms.set(room.id, known ? { ...room, lastSeq: Math.max(room.lastSeq, known.lastSeq) } : room);
    if (!this.conn.watching(room.id)) {
      const tl = this.timeline(room);
      this.conn.watchRoom(room.id, {
        sinceSeq: () => tl.sinceSeq,
        onEvent: (ev, replayed) => this.onRoomEvent(room.id, ev, replayed),
        onDenied: (text) => this.lostRoom(room.id, text),
      });
    }
    if (render) this.renderRooms();
  }

  private forgetRoom(id: string): void {
    this.conn.unwatchRoom(id);
    this.rooms.delete(id);
    this.timelines.delete(id);
    this.online.delete(id);
    this.typers.delete(id);
    this.members.delete(id);
  }

  private timeline(room: Room): Timeline {
    let tl = this.timelines.get(room.id);
    if (!tl) {
      tl = new Timeline(room.id, this.me.id, room.lastSeq);
      this.timelines.set(room.id, tl);
    }
    return tl;
  }

  private renderRooms(): void {
    const list = [...this.rooms.values()].sort((a, b) => b.lastSeq - a.lastSeq || a.name.localeCompare(b.name));
    this.roomsView.render(list, this.current);
  }

  private lostRoom(id: string, text: string): void {
    if (this.deleting.has(id)) return;
    const room = this.rooms.get(id);
    this.forgetRoom(id);
    this.renderRooms();
    if (this.current === id) {
      this.current = null;
      this.showGate(room ? `${text} (${roomLabel(room, this.me.username)})` : text);
    } else if (room) {
      this.shell.showAlert(`${text} (${roomLabel(room, this.me.username)})`, 'notice');
    }
  }

  private onNotification(note: Notification): void {
    switch (note.type) {
      case 'removed_from_room':
        this.lostRoom(note.roomId, 'You were removed from this room.');
        break;
      case 'room_deleted':
        this.lostRoom(note.roomId, 'This room was deleted.');
        break;
      case 'added_to_room':
        void this.learnRoom(note.roomId, `${note.by.displayName || note.by.username} added you to`);
        break;
      case 'direct_message':
        // A room this page watches gets the message itself; only a new one needs loading.
        if (!this.rooms.has(note.roomId)) void this.learnRoom(note.roomId, `New message from ${note.sender.displayName || note.sender.username} in`);
        break;
      case 'role_changed': {
        const room = this.rooms.get(note.roomId);
        if (!room || room.role === note.role) break;
        room.role = note.role;
        this.renderRooms();
        if (this.current === room.id) {
          this.showRoomChrome(room);
          if (this.membersOpen) void this.loadMembers(room.id);
        }
        break;
      }
    }
  }

  /** A room this page did not list (added to it, a new direct room): load it and list it. */
  private async learnRoom(id: string, announcement: string): Promise<void> {
    if (this.rooms.has(id) || this.learning.has(id)) return;
    this.learning.add(id);
    let room: Room;
    try {
      room = await this.api.room(id);
    } catch {
      return; // Gone again, or unreachable: the next refresh of the list settles it.
    } finally {
      this.learning.delete(id);
    }
    if (room.role === null || this.rooms.has(id)) return;
    this.addRoom(room);
    this.shell.announce(`${announcement} ${roomLabel(room, this.me.username)}.`);
  }

  // -- routing ------------------------------------------------------------------------------

  private async route(): Promise<void> {
    if (location.hash === '#/account') {
      this.showAccount();
      return;
    }
    const match = /^#\/rooms\/([0-9a-fA-F-]{36})$/.exec(location.hash);
    const id = match?.[1] ?? null;
    if (id === null) {
      this.current = null;
      this.shell.body.dataset.view = 'list';
      this.showGate('Pick a room on the left, create one, or message a person.', false);
      this.renderRooms();
      return;
    }
    let room = this.rooms.get(id);
    if (!room) {
      try {
        room = await this.api.room(id);
      } catch (err) {
        this.current = null;
        this.shell.body.dataset.view = 'room';
        this.showGate(
          err instanceof ApiError && err.status === 404
            ? 'This room does not exist, or it is private and you are not a member.'
            : `The room could not be opened. ${errorText(err)}`,
        );
        return;
      }
      if (room.role === null) {
        this.current = null;
        this.shell.body.dataset.view = 'room';
        this.showJoin(room);
        return;
      }
      this.addRoom(room);
    }
    await this.openRoom(room);
  }

  private showAccount(): void {
    this.current = null;
    this.shell.body.dataset.view = 'room';
    this.chat.el.hidden = true;
    this.gate.hidden = true;
    this.setMembersOpen(false, false);
    this.setSettingsOpen(false, false);
    this.renderRooms();
    this.accountView.open();
  }

  private showGate(text: string, alert = true): void {
    this.chat.el.hidden = true;
    this.accountView.el.hidden = true;
    this.gate.hidden = false;
    this.setMembersOpen(false, false);
    this.setSettingsOpen(false, false);
    clear(this.gate);
    this.gate.append(
      h('h2', { tabindex: '-1' }, alert ? 'Room unavailable' : 'Welcome to ChatFlow'),
      h('p', alert ? { role: 'alert' } : {}, text),
      ...(alert ? [h('a', { href: '#/', class: 'back' }, '‹ Back to your rooms')] : []),
    );
    if (alert) (this.gate.querySelector('h2') as HTMLElement).focus();
  }

  private showJoin(room: Room): void {
    this.showGate(`You are not a member of ${room.name} yet.`, false);
    const join = h('button', { type: 'button', class: 'primary' }, `Join ${room.name}`);
    join.addEventListener('click', async () => {
      try {
        this.addRoom(await this.api.join(room.id));
        await this.route();
      } catch (err) {
        this.shell.showAlert(errorText(err), 'request');
      }
    });
    this.gate.append(join);
    join.focus();
  }

  private async openRoom(room: Room): Promise<void> {
    const changed = this.current !== room.id;
    this.current = room.id;
    this.shell.body.dataset.view = 'room';
    this.gate.hidden = true;
    this.accountView.el.hidden = true;
    this.chat.el.hidden = false;
    if (changed) {
      this.setSettingsOpen(false, false);
      this.roomsView.notify('');
    }
    const tl = this.timeline(room);
    room.unread = 0;
    this.renderRooms();
    this.chat.show(room, tl);
    this.showRoomChrome(room);
    this.renderTyping();
    if (changed) this.chat.focusComposer();
    const jobs: Promise<unknown>[] = [this.loadPresence(room.id)];
    if (!tl.historyLoaded) jobs.push(this.loadNewest(room.id));
    if (this.membersOpen) jobs.push(this.loadMembers(room.id));
    await Promise.all(jobs);
  }

  // -- history ------------------------------------------------------------------------------

  private async loadNewest(id: string): Promise<void> {
    const tl = this.timelines.get(id);
    if (!tl) return;
    try {
      const page = await this.api.history(id, { limit: PAGE });
      this.learnNames(page.items);
      tl.addPage(page, 'newest');
    } catch (err) {
      if (this.current === id) this.chat.showNotice(`Messages could not be loaded. ${errorText(err)}`);
      return;
    }
    if (this.current === id) this.chat.render(true);
  }

  private async loadOlder(): Promise<void> {
    const id = this.current;
    const tl = id ? this.timelines.get(id) : undefined;
    if (!id || !tl || tl.nextBefore === null) return;
    const page = await this.api.history(id, { before: tl.nextBefore, limit: PAGE });
    this.learnNames(page.items);
    tl.addPage(page, 'older');
    if (this.current === id) this.chat.render();
  }

  /** A replay said more was missed than it carries: start the timeline again from REST. */
  private async reloadHistory(id: string): Promise<void> {
    const tl = this.timelines.get(id);
    if (!tl) return;
    tl.reset();
    if (this.current === id) {
      this.chat.render();
      await this.loadNewest(id);
      this.shell.announce('You were away for a while; the latest messages were reloaded.');
    }
  }

  // -- live events --------------------------------------------------------------------------

  private onRoomEvent(id: string, ev: RoomEvent, replayed: boolean): void {
    const tl = this.timelines.get(id);
    const room = this.rooms.get(id);
    if (!tl || !room) return;
    switch (ev.type) {
      case 'message':
      case 'member_joined':
      case 'member_left':
      case 'role_changed':
        this.onStored(room, tl, ev, replayed);
        break;
      case 'message_updated':
        if (tl.update({ ...ev, type: 'message' }) && this.current === id) this.chat.render();
        break;
      case 'presence': {
        const set = this.online.get(id) ?? new Set<string>();
        this.online.set(id, set);
        if (ev.status === 'online') set.add(ev.user.id);
        else {
          set.delete(ev.user.id);
          this.typers.get(id)?.delete(ev.user.id);
        }
        if (this.current === id) this.renderMembers();
        break;
      }
      case 'typing':
        if (ev.user.id !== this.me.id) {
          const map = this.typers.get(id) ?? new Map<string, { name: string; until: number }>();
          this.typers.set(id, map);
          const name = this.names.get(ev.user.id) ?? (ev.user.displayName || ev.user.username);
          map.set(ev.user.id, { name, until: Date.now() + TYPING_SHOW_MS });
          if (this.current === id) this.renderTyping();
        }
        break;
      case 'replay':
        if (ev.complete) tl.replayComplete(ev.lastSeq);
        else void this.reloadHistory(id);
        break;
      case 'room_updated':
        this.mergeRoom({ ...room, name: ev.name, topic: ev.topic });
        break;
    }
  }

  private onStored(room: Room, tl: Timeline, m: Message, replayed: boolean): void {
    for (const u of [m.sender, m.subject]) if (u) this.names.set(u.id, u.displayName);
    if (!tl.add(m)) return;
    if (m.type === 'role_changed' && m.subject?.id === this.me.id) {
      room.role = m.body as Role;
      if (this.current === room.id) this.showRoomChrome(room);
    }
    room.lastSeq = Math.max(room.lastSeq, m.seq);
    const fromOther = m.type === 'message' && m.sender?.id !== this.me.id;
    if (fromOther && m.sender) this.typers.get(room.id)?.delete(m.sender.id);
    if (this.current === room.id) {
      this.chat.render();
      this.renderTyping();
      if (fromOther && !replayed) this.shell.announce(`${m.sender?.displayName ?? 'Someone'}: ${m.body}`);
      if (m.type !== 'message' && this.membersOpen) void this.loadMembers(room.id);
      if (document.hidden && fromOther) room.unread += 1;
    } else if (fromOther) {
      room.unread += 1;
    }
    this.renderRooms();
  }

  private learnNames(items: Message[]): void {
    for (const m of items) for (const u of [m.sender, m.subject]) if (u) this.names.set(u.id, u.displayName);
  }

  private renderTyping(): void {
    const map = this.current ? this.typers.get(this.current) : undefined;
    const now = Date.now();
    this.chat.setTyping(map ? [...map.values()].filter((t) => t.until > now).map((t) => t.name) : []);
  }

  private expireTyping(): void {
    const now = Date.now();
    for (const map of this.typers.values()) for (const [k, t] of map) if (t.until <= now) map.delete(k);
    this.renderTyping();
  }

  private onConnection(state: ConnectionState): void {
    const before = this.lastConnection;
    this.lastConnection = state.status;
    this.shell.setConnection(state);
    // The same socket answered after a wake: nothing was lost, nothing to reload.
    if (state.status === 'connected' && before === 'checking') return;
    if (state.status === 'checking') return;
    if (state.status !== 'connected') {
      // Typing signals stop arriving with the connection: do not show stale ones.
      this.typers.clear();
      this.renderTyping();
      return;
    }
    if (this.wasConnected) {
      void this.refreshRooms();
      if (this.current) void this.loadPresence(this.current);
    }
    this.wasConnected = true;
    for (const [id, tl] of this.timelines) {
      for (const p of tl.pendingSends()) {
        if (p.state === 'failed' && this.resendOnConnect.has(p.clientMsgId)) this.retryIn(id, p.clientMsgId);
      }
    }
  }

  // -- sending ------------------------------------------------------------------------------

  private send(body: string): void {
    const id = this.current;
    const tl = id ? this.timelines.get(id) : undefined;
    if (!id || !tl) return;
    const cid = newClientMsgId();
    // Others clear the typing line when this message arrives; the next keystroke says it again.
    this.lastTypingSent = 0;
    tl.startSend(cid, body);
    this.chat.render(true);
    this.deliver(id, tl, cid, body);
  }

  private retry(cid: string): void {
    if (this.current) this.retryIn(this.current, cid);
  }

  private retryIn(id: string, cid: string): void {
    const tl = this.timelines.get(id);
    const p = tl?.retry(cid);
    if (!tl || !p) return;
    if (this.current === id) this.chat.render();
    this.deliver(id, tl, cid, p.body);
  }

  private deliver(id: string, tl: Timeline, cid: string, body: string): void {
    this.resendOnConnect.delete(cid);
    this.conn.send(id, body, cid).then(
      (stored) => {
        this.shell.resolved('request');
        tl.markStored(cid, stored.seq);
        const room = this.rooms.get(id);
        if (room) room.lastSeq = Math.max(room.lastSeq, stored.seq);
        if (this.current === id) this.chat.render();
      },
      (err: unknown) => {
        const failed = err instanceof SendFailed ? err : new SendFailed(errorText(err), false);
        if (failed.connectionLost) this.resendOnConnect.add(cid);
        tl.markFailed(cid, failed.connectionLost ? `${failed.message} It will be sent again when the connection is back.` : failed.message);
        if (this.current === id) this.chat.render();
      },
    );
  }

  private typing(): void {
    const now = Date.now();
    if (!this.current || now - this.lastTypingSent < TYPING_SEND_MS) return;
    this.lastTypingSent = now;
    this.conn.typing(this.current);
  }

  private seen(seq: number): void {
    const id = this.current;
    if (!id || document.hidden) return;
    const room = this.rooms.get(id);
    if (room && room.unread) {
      room.unread = 0;
      this.renderRooms();
    }
    if ((this.lastRead.get(id) ?? 0) >= seq) return;
    this.lastRead.set(id, seq);
    this.api.markRead(id, seq).catch(() => undefined);
  }

  // -- members and presence -----------------------------------------------------------------

  private async loadPresence(id: string): Promise<void> {
    try {
      const users = await this.api.presence(id);
      this.online.set(id, new Set(users.map((u) => u.id)));
      if (this.current === id) this.renderMembers();
    } catch {
      // Presence is a nicety; live events still arrive.
    }
  }

  private async loadMembers(id: string): Promise<void> {
    try {
      const members = await this.api.members(id);
      for (const m of members) this.names.set(m.user.id, m.user.displayName);
      this.members.set(id, members);
    } catch (err) {
      this.shell.showAlert(`Members could not be loaded. ${errorText(err)}`, 'members');
      return;
    }
    this.shell.resolved('members');
    if (this.current === id) this.renderMembers();
  }

  private renderMembers(): void {
    const id = this.current;
    const room = id ? this.rooms.get(id) : undefined;
    if (!id || !room || !this.membersOpen) return;
    this.membersView.render(this.members.get(id) ?? [], this.online.get(id) ?? new Set(), room.role, room.visibility === 'direct');
  }

  private setSettingsOpen(open: boolean, moveFocus = true): void {
    const wasOpen = this.settingsOpen;
    const room = this.current ? this.rooms.get(this.current) : undefined;
    this.settingsOpen = open && room !== undefined && canEditRoom(room);
    this.settingsView.el.hidden = !this.settingsOpen;
    this.chat.settingsButton.setAttribute('aria-expanded', String(this.settingsOpen));
    if (this.settingsOpen && room) {
      this.settingsView.show(room);
      if (moveFocus) this.settingsView.heading.focus();
    } else if (wasOpen && moveFocus) {
      this.chat.settingsButton.focus();
    }
  }

  private setMembersOpen(open: boolean, moveFocus = true): void {
    const wasOpen = this.membersOpen;
    this.membersOpen = open;
    this.membersView.el.hidden = !open;
    this.shell.body.classList.toggle('members-open', open);
    this.chat.membersButton.setAttribute('aria-expanded', String(open));
    if (open && this.current) {
      this.renderMembers();
      void this.loadMembers(this.current);
      if (moveFocus) this.membersView.heading.focus();
    } else if (wasOpen && moveFocus) {
      this.chat.membersButton.focus();
    }
  }

  private async leave(): Promise<void> {
    const id = this.current;
    if (!id) return;
    await this.api.leave(id);
    this.forgetRoom(id);
    location.hash = '#/';
  }

  private async logout(): Promise<void> {
    try {
      await this.api.logout();
    } catch {
      // The token is dropped locally either way.
    }
    this.signOut('You signed out.');
  }
}
