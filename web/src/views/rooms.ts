/**
 * The room list with unread counts, and the three ways into a room: create one, find a public
 * one by name, or message a person by username.
 */

import { ApiError } from '../api';
import { clear, h, lockIcon, reconcile, uid } from '../dom';
import type { Room } from '../types';

export interface RoomsActions {
  create(name: string, topic: string, visibility: 'public' | 'private'): Promise<void>;
  search(q: string): Promise<Room[]>;
  join(room: Room): Promise<void>;
  direct(username: string): Promise<void>;
}

export function roomLabel(room: Room, myUsername: string): string {
  if (room.visibility !== 'direct') return room.name;
  const others = room.name.split(', ').filter((n) => n.toLowerCase() !== myUsername.toLowerCase());
  return others.join(', ') || room.name;
}

export class RoomsView {
  readonly el: HTMLElement;
  private readonly list: HTMLUListElement;
  private readonly empty: HTMLParagraphElement;
  private readonly notice: HTMLParagraphElement;

  constructor(
    private readonly actions: RoomsActions,
    private readonly myUsername: string,
  ) {
    this.list = h('ul', { class: 'room-list', 'aria-labelledby': 'rooms-title' });
    this.empty = h('p', { class: 'hint' }, 'No rooms yet. Create one, find a public room or message someone.');
    this.notice = h('p', { class: 'notice', role: 'status', hidden: true });
    this.el = h(
      'nav',
      { class: 'sidebar', 'aria-label': 'Rooms' },
      h('h2', { id: 'rooms-title' }, 'Your rooms'),
      this.notice,
      this.empty,
      this.list,
      this.createForm(),
      this.searchForm(),
      this.directForm(),
    );
  }

  /** A line above the list about what just happened to it ("You deleted …"); '' hides it. */
  notify(text: string): void {
    this.notice.textContent = text;
    this.notice.hidden = !text;
  }

  render(rooms: Room[], currentId: string | null): void {
    this.empty.hidden = rooms.length > 0;
    reconcile(this.list, rooms, (r) => r.id, (room, existing) => {
      const li = existing ?? h('li');
      clear(li);
      const label = roomLabel(room, this.myUsername);
      const kind = room.visibility === 'direct' ? 'Direct message' : room.visibility === 'private' ? 'Private room' : 'Public room';
      const unread = room.unread > 0 ? `, ${room.unread} unread` : '';
      const link = h(
        'a',
        {
          href: `#/rooms/${room.id}`,
          class: `room-link${room.unread > 0 ? ' has-unread' : ''}`,
          'aria-current': room.id === currentId ? 'page' : null,
          'aria-label': `${label} (${kind}${unread})`,
        },
        h('span', { class: `room-icon ${room.visibility}`, 'aria-hidden': 'true' }, room.visibility === 'direct' ? '@' : room.visibility === 'private' ? lockIcon() : '#'),
        h('span', { class: 'room-name' }, label),
        room.unread > 0 ? h('span', { class: 'badge', 'aria-hidden': 'true' }, room.unread > 99 ? '99+' : String(room.unread)) : null,
      );
      li.append(link);
      return li;
    });
  }

  private createForm(): HTMLElement {
    const nameId = uid('room-name');
    const topicId = uid('room-topic');
    const name = h('input', { id: nameId, name: 'name', required: true, maxlength: 80, autocomplete: 'off' });
    const topic = h('input', { id: topicId, name: 'topic', maxlength: 200, autocomplete: 'off' });
    const publicRadio = h('input', { type: 'radio', name: 'visibility', value: 'public', checked: true, id: uid('vis') });
    const privateRadio = h('input', { type: 'radio', name: 'visibility', value: 'private', id: uid('vis') });
    const error = h('p', { class: 'field-error', role: 'alert' });
    const button = h('button', { type: 'submit', class: 'primary' }, 'Create room');
    const form = h(
      'form',
      { class: 'stack', 'aria-label': 'Create a room' },
      h('div', { class: 'field' }, h('label', { for: nameId }, 'Room name'), name),
      h('div', { class: 'field' }, h('label', { for: topicId }, 'Topic (optional)'), topic),
      h(
        'fieldset',
        { class: 'inline' },
        h('legend', {}, 'Who can join'),
        h('label', { for: publicRadio.id }, publicRadio, ' Anyone (public)'),
        h('label', { for: privateRadio.id }, privateRadio, ' Invited only (private)'),
      ),
      error,
      button,
    );
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      error.textContent = '';
      if (!name.value.trim()) {
        error.textContent = 'Give the room a name.';
        name.focus();
        return;
      }
      void busy(button, async () => {
        try {
          await this.actions.create(name.value.trim(), topic.value.trim(), privateRadio.checked ? 'private' : 'public');
          form.reset();
          details.open = false;
        } catch (err) {
          error.textContent = message(err);
        }
      });
    });
    const details = h('details', { class: 'panel' }, h('summary', {}, 'New room'), form);
    return details;
  }

  private searchForm(): HTMLElement {
    const qId = uid('search');
    const q = h('input', { id: qId, type: 'search', name: 'q', autocomplete: 'off', placeholder: 'Room name starts with…' });
    const results = h('ul', { class: 'results', 'aria-label': 'Public rooms found' });
    const status = h('p', { class: 'hint', role: 'status' });
    const button = h('button', { type: 'submit' }, 'Search');
    const form = h(
      'form',
      { class: 'stack', role: 'search', 'aria-label': 'Find public rooms' },
      h('div', { class: 'field' }, h('label', { for: qId }, 'Search by name'), h('div', { class: 'row' }, q, button)),
      status,
      results,
    );
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      void busy(button, async () => {
        clear(results);
        status.textContent = 'Searching…';
        try {
          const found = await this.actions.search(q.value.trim());
          status.textContent = found.length ? `${found.length} public room${found.length === 1 ? '' : 's'} found.` : 'No public rooms match.';
          for (const room of found) {
            const joined = room.role !== null;
            const action = joined
              ? h('a', { href: `#/rooms/${room.id}`, class: 'button small' }, 'Open')
              : h('button', { type: 'button', class: 'small' }, 'Join');
            if (!joined) {
              action.addEventListener('click', () => {
                void busy(action as HTMLButtonElement, async () => {
                  try {
                    await this.actions.join(room);
                    status.textContent = `You joined ${room.name}.`;
                  } catch (err) {
                    status.textContent = message(err);
                  }
                });
              });
            }
            action.setAttribute('aria-label', `${joined ? 'Open' : 'Join'} ${room.name}`);
            results.append(h('li', {}, h('span', { class: 'room-name' }, room.name), room.topic ? h('span', { class: 'hint' }, room.topic) : null, action));
          }
        } catch (err) {
          status.textContent = message(err);
        }
      });
    });
    return h('details', { class: 'panel' }, h('summary', {}, 'Find public rooms'), form);
  }

  private directForm(): HTMLElement {
    const id = uid('dm');
    const input = h('input', { id, name: 'username', autocomplete: 'off', required: true });
    const error = h('p', { class: 'field-error', role: 'alert' });
    const button = h('button', { type: 'submit' }, 'Open chat');
    const form = h(
      'form',
      { class: 'stack', 'aria-label': 'Message a person' },
      h('div', { class: 'field' }, h('label', { for: id }, 'Their username'), h('div', { class: 'row' }, input, button)),
      error,
    );
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      error.textContent = '';
      if (!input.value.trim()) {
        error.textContent = 'Enter the username of the person to message.';
        input.focus();
        return;
      }
      void busy(button, async () => {
        try {
          await this.actions.direct(input.value.trim());
          form.reset();
        } catch (err) {
          error.textContent = err instanceof ApiError && err.status === 404 ? `There is no user called “${input.value.trim()}”.` : message(err);
        }
      });
    });
    return h('details', { class: 'panel' }, h('summary', {}, 'Message a person'), form);
  }
}

export function message(err: unknown): string {
  return err instanceof Error ? err.message : 'Something went wrong. Try again.';
}

export async function busy(button: HTMLButtonElement, work: () => Promise<void>): Promise<void> {
  button.disabled = true;
  button.setAttribute('aria-busy', 'true');
  try {
    await work();
  } finally {
    button.disabled = false;
    button.removeAttribute('aria-busy');
  }
}
