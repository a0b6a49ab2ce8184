/**
 * The chat view of one room: history (older pages load when scrolling up or with a button),
 * live messages, system lines, the typing line, delivery state of own messages with retry,
 * edit and delete, and the composer.
 */

import { clear, formatTime, h, lockIcon, reconcile, uid } from '../dom';
import type { Row, Timeline } from '../store';
import { roleWords } from '../permissions';
import type { Message, Role, Room } from '../types';
import { busy, message as errorText, roomLabel } from './rooms';

export interface ChatActions {
  send(body: string): void;
  retry(clientMsgId: string): void;
  edit(seq: number, body: string): Promise<void>;
  remove(seq: number): Promise<void>;
  loadOlder(): Promise<void>;
  typing(): void;
  leave(): Promise<void>;
  toggleMembers(): void;
  toggleSettings(): void;
  seen(seq: number): void;
}

const MAX_CHARS = 4000;

export function systemText(m: Message): string {
  const who = m.subject?.displayName || m.subject?.username || 'Someone';
  switch (m.type) {
    case 'member_joined':
      return `${who} joined`;
    case 'member_left':
      return m.body && m.body !== 'left' ? `${who} was ${m.body}` : `${who} left`;
    case 'role_changed':
      return `${who} is now ${roleWords(m.body as Role)}`;
    default:
      return m.body;
  }
}

export class ChatView {
  readonly el: HTMLElement;
  readonly membersButton: HTMLButtonElement;
  readonly settingsButton: HTMLButtonElement;
  private readonly header: HTMLElement;
  private readonly title: HTMLHeadingElement;
  private readonly topic: HTMLParagraphElement;
  private readonly list: HTMLOListElement;
  private readonly olderButton: HTMLButtonElement;
  private readonly start: HTMLParagraphElement;
  private readonly typingLine: HTMLParagraphElement;
  private readonly notice: HTMLDivElement;
  private readonly input: HTMLTextAreaElement;
  private readonly counter: HTMLSpanElement;
  private readonly editing = new Set<number>();
  private loadingOlder = false;
  private timeline: Timeline | null = null;

  constructor(
    private readonly actions: ChatActions,
    private readonly myUsername: string,
  ) {
    this.title = h('h2', { id: 'chat-title', tabindex: '-1' });
    this.topic = h('p', { class: 'topic' });
    this.membersButton = h('button', { type: 'button', 'aria-expanded': 'false', 'aria-controls': 'members-panel' }, 'Members');
    this.membersButton.addEventListener('click', () => this.actions.toggleMembers());
    this.settingsButton = h('button', { type: 'button', 'aria-expanded': 'false', 'aria-controls': 'room-settings', hidden: true }, 'Settings');
    this.settingsButton.addEventListener('click', () => this.actions.toggleSettings());
    const leave = h('button', { type: 'button', class: 'quiet' }, 'Leave');
    leave.addEventListener('click', () => {
      if (window.confirm(`Leave ${this.title.textContent}? You can rejoin a public room later.`)) {
        void busy(leave, async () => {
          try {
            await this.actions.leave();
          } catch (err) {
            this.showNotice(errorText(err));
          }
        });
      }
    });
    this.notice = h('div', { class: 'notice', role: 'alert' });
    this.olderButton = h('button', { type: 'button', class: 'small older' }, 'Load older messages');
    this.olderButton.addEventListener('click', () => void this.loadOlder());
    this.start = h('p', { class: 'hint start' }, 'This is the beginning of the room.');
    this.list = h('ol', { class: 'messages', 'aria-labelledby': 'chat-title', tabindex: '0' });
    this.list.addEventListener('scroll', () => {
      if (this.list.scrollTop < 120) void this.loadOlder();
      if (this.atBottom()) this.markSeen();
    });
    this.typingLine = h('p', { class: 'typing', 'aria-live': 'polite' });

    const inputId = uid('composer');
    this.input = h('textarea', { id: inputId, rows: 1, maxlength: MAX_CHARS, 'aria-describedby': `${inputId}-help`, placeholder: 'Write a message' });
    this.counter = h('span', { class: 'counter', 'aria-live': 'polite' });
    const composerLabel = h('label', { for: inputId, class: 'sr-only', id: `${inputId}-label` }, 'Message');
    const send = h('button', { type: 'submit', class: 'primary' }, 'Send');
    const composer = h(
      'form',
      { class: 'composer', 'aria-label': 'Send a message' },
      composerLabel,
      this.input,
      send,
      h('p', { id: `${inputId}-help`, class: 'sr-only' }, 'Enter sends; Shift and Enter adds a new line.'),
      this.counter,
    );
    composer.addEventListener('submit', (ev) => {
      ev.preventDefault();
      this.submit();
    });
    this.input.addEventListener('keydown', (ev) => {
      if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) {
        ev.preventDefault();
        this.submit();
      }
    });
    this.input.addEventListener('input', () => {
      this.autosize();
      const left = MAX_CHARS - this.input.value.length;
      this.counter.textContent = left < 200 ? `${left} characters left` : '';
      if (this.input.value.trim()) this.actions.typing();
    });

    this.header = h(
      'header',
      { class: 'chat-header' },
      h('a', { href: '#/', class: 'back', 'aria-label': 'Back to rooms' }, '‹ Rooms'),
      h('div', { class: 'titles' }, this.title, this.topic),
      h('div', { class: 'chat-actions' }, this.membersButton, this.settingsButton, leave),
    );
    this.el = h(
      'section',
      { class: 'chat', 'aria-labelledby': 'chat-title' },
      this.header,
      this.notice,
      h('div', { class: 'scroller-top' }, this.olderButton, this.start),
      this.list,
      this.typingLine,
      composer,
    );
    this.notice.hidden = true;
  }

  show(room: Room, timeline: Timeline): void {
    this.setHeader(room);
    if (this.timeline !== timeline) {
      this.timeline = timeline;
      this.editing.clear();
      clear(this.list);
      this.notice.hidden = true;
      this.typingLine.textContent = '';
    }
    this.render(true);
  }

  /** Name, topic and the composer's label; called again when the room is renamed. */
  setHeader(room: Room): void {
    const label = roomLabel(room, this.myUsername);
    this.title.replaceChildren(
      room.visibility === 'private' ? lockIcon() : '',
      room.visibility === 'public' ? h('span', { 'aria-hidden': 'true' }, '# ') : '',
      label,
    );
    const kind = room.visibility === 'direct' ? 'Direct message' : room.visibility === 'private' ? 'Private room' : '';
    this.topic.textContent = [kind, room.topic].filter(Boolean).join(' · ');
    this.input.setAttribute('aria-label', `Message ${label}`);
    this.input.placeholder = `Message ${label}`;
  }

  /** A panel that opens under the header (the room settings). */
  attachPanel(panel: HTMLElement): void {
    this.header.after(panel);
  }

  focusComposer(): void {
    this.input.focus();
  }

  focusTitle(): void {
    this.title.focus();
  }

  showNotice(text: string): void {
    this.notice.textContent = text;
    this.notice.hidden = !text;
  }

  setTyping(names: string[]): void {
    let text = '';
    if (names.length === 1) text = `${names[0]} is typing…`;
    else if (names.length === 2) text = `${names[0]} and ${names[1]} are typing…`;
    else if (names.length > 2) text = 'Several people are typing…';
    if (this.typingLine.textContent !== text) this.typingLine.textContent = text;
  }

  /** Redraw the rows; stays at the bottom when it was there, keeps the view when history grows above. */
  render(forceBottom = false): void {
    const tl = this.timeline;
    if (!tl) return;
    const stick = forceBottom || this.atBottom();
    const firstKey = (this.list.firstElementChild as HTMLElement | null)?.dataset.key;
    const anchor = firstKey ? (this.list.querySelector(`[data-key="${firstKey}"]`) as HTMLElement | null) : null;
    const anchorTop = anchor ? anchor.offsetTop - this.list.scrollTop : 0;
    reconcile(this.list, tl.rows(), (r) => r.key, (row, existing) => this.renderRow(row, existing));
    this.olderButton.hidden = !tl.historyLoaded || tl.nextBefore === null;
    this.start.hidden = !tl.historyLoaded || tl.nextBefore !== null;
    if (stick) {
      this.list.scrollTop = this.list.scrollHeight;
      this.markSeen();
    } else if (anchor && anchor.isConnected) {
      this.list.scrollTop = anchor.offsetTop - anchorTop;
    }
  }

  private atBottom(): boolean {
    return this.list.scrollHeight - this.list.scrollTop - this.list.clientHeight < 80;
  }

  private markSeen(): void {
    const seq = this.timeline?.newestSeq;
    if (seq) this.actions.seen(seq);
  }

  private async loadOlder(): Promise<void> {
    const tl = this.timeline;
    if (this.loadingOlder || !tl || !tl.historyLoaded || tl.nextBefore === null) return;
    this.loadingOlder = true;
    this.olderButton.textContent = 'Loading older messages…';
    try {
      await this.actions.loadOlder();
    } catch (err) {
      this.showNotice(`Older messages could not be loaded. ${errorText(err)}`);
    } finally {
      this.loadingOlder = false;
      this.olderButton.textContent = 'Load older messages';
    }
  }

  private submit(): void {
    const body = this.input.value.trim();
    if (!body) return;
    this.actions.send(body);
    this.input.value = '';
    this.counter.textContent = '';
    this.autosize();
    this.input.focus();
  }

  private autosize(): void {
    this.input.style.height = 'auto';
    this.input.style.height = `${Math.min(this.input.scrollHeight, 160)}px`;
  }

  private renderRow(row: Row, existing: HTMLElement | undefined): HTMLElement {
    if (row.kind === 'pending') {
      const p = row.pending;
      const li = existing ?? h('li');
      const stamp = `${p.state}|${p.error ?? ''}|${p.body}`;
      if (li.dataset.stamp === stamp) return li;
      li.dataset.stamp = stamp;
      clear(li);
      li.className = 'message own pending';
      li.dataset.delivery = p.state;
      li.append(
        h('div', { class: 'meta' }, h('span', { class: 'sender' }, 'You')),
        h('p', { class: 'body' }, p.body),
        this.deliveryLine(p.state, p.error, p.clientMsgId),
      );
      return li;
    }
    const m = row.message;
    if (existing && this.editing.has(m.seq)) return existing;
    const li = existing ?? h('li');
    const stamp = `${m.type}|${m.body}|${m.editedAt}|${m.deletedAt}|${row.delivery}`;
    if (li.dataset.stamp === stamp) return li;
    li.dataset.stamp = stamp;
    li.dataset.seq = String(m.seq);
    clear(li);
    if (m.type !== 'message') {
      li.className = 'system';
      delete li.dataset.delivery;
      li.append(h('span', {}, systemText(m)), ' ', h('time', { datetime: m.createdAt }, formatTime(m.createdAt)));
      return li;
    }
    const own = row.delivery !== null;
    li.className = `message${own ? ' own' : ''}${m.deletedAt ? ' deleted' : ''}`;
    if (row.delivery) li.dataset.delivery = row.delivery;
    else delete li.dataset.delivery;
    const name = own ? 'You' : m.sender?.displayName || m.sender?.username || 'Someone';
    const time = formatTime(m.createdAt);
    li.append(
      h(
        'div',
        { class: 'meta' },
        h('span', { class: 'sender' }, name),
        // Display names are not unique: the username tells two people of the same name apart.
        !own && m.sender ? h('span', { class: 'username' }, `@${m.sender.username}`) : null,
        h('time', { datetime: m.createdAt }, time),
        m.editedAt && !m.deletedAt ? h('span', { class: 'edited' }, '(edited)') : null,
      ),
      m.deletedAt ? h('p', { class: 'body' }, 'This message was deleted.') : h('p', { class: 'body' }, m.body),
    );
    if (own) {
      li.append(this.deliveryLine(row.delivery ?? 'stored'));
      if (!m.deletedAt) li.append(this.ownActions(li, m, time));
    }
    return li;
  }

  private deliveryLine(state: string, error?: string, clientMsgId?: string): HTMLElement {
    const line = h('p', { class: `delivery ${state}` });
    if (state === 'sending') line.append('Sending…');
    else if (state === 'stored') line.append(h('span', { 'aria-hidden': 'true' }, '✓ '), 'Sent');
    else {
      line.append(h('span', {}, `Not sent. ${error ?? ''}`.trim()), ' ');
      if (clientMsgId) {
        const retry = h('button', { type: 'button', class: 'small' }, 'Retry');
        retry.addEventListener('click', () => this.actions.retry(clientMsgId));
        line.append(retry);
      }
    }
    return line;
  }

  private ownActions(li: HTMLElement, m: Message, time: string): HTMLElement {
    const edit = h('button', { type: 'button', class: 'small quiet', 'aria-label': `Edit your message from ${time}` }, 'Edit');
    const del = h('button', { type: 'button', class: 'small quiet', 'aria-label': `Delete your message from ${time}` }, 'Delete');
    edit.addEventListener('click', () => this.startEdit(li, m));
    del.addEventListener('click', () => {
      if (!window.confirm('Delete this message? Everyone in the room will see that it was deleted.')) return;
      void busy(del, async () => {
        try {
          await this.actions.remove(m.seq);
        } catch (err) {
          this.showNotice(`The message was not deleted. ${errorText(err)}`);
        }
      });
    });
    return h('div', { class: 'actions' }, edit, del);
  }

  private startEdit(li: HTMLElement, m: Message): void {
    this.editing.add(m.seq);
    const id = uid('edit');
    const area = h('textarea', { id, maxlength: MAX_CHARS, rows: 2 });
    area.value = m.body;
    const error = h('p', { class: 'field-error', role: 'alert' });
    const save = h('button', { type: 'submit', class: 'primary small' }, 'Save');
    const cancel = h('button', { type: 'button', class: 'small' }, 'Cancel');
    const form = h('form', { class: 'edit' }, h('label', { for: id, class: 'sr-only' }, 'Edit message'), area, error, h('div', { class: 'row' }, save, cancel));
    const finish = () => {
      this.editing.delete(m.seq);
      delete li.dataset.stamp;
      this.render();
      (li.querySelector('button') as HTMLButtonElement | null)?.focus();
    };
    cancel.addEventListener('click', finish);
    area.addEventListener('keydown', (ev) => {
      if (ev.key === 'Escape') finish();
      if (ev.key === 'Enter' && !ev.shiftKey) {
        ev.preventDefault();
        form.requestSubmit();
      }
    });
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      const body = area.value.trim();
      if (!body) {
        error.textContent = 'A message cannot be empty; delete it instead.';
        return;
      }
      void busy(save, async () => {
        try {
          await this.actions.edit(m.seq, body);
          finish();
        } catch (err) {
          error.textContent = errorText(err);
        }
      });
    });
    li.querySelector('.body')?.replaceWith(form);
    li.querySelector('.actions')?.remove();
    area.focus();
  }
}
