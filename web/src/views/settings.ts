/** Room settings for owners and admins: rename, change the topic; the owner may delete the room. */

import { h } from '../dom';
import { formProblem, roomChanges } from '../forms';
import { canDeleteRoom } from '../permissions';
import type { Room } from '../types';
import { type Field, field, showFieldErrors } from './fields';
import { busy } from './rooms';

export interface RoomSettingsActions {
  save(changes: { name?: string; topic?: string }): Promise<void>;
  remove(): Promise<void>;
  close(): void;
}

export class RoomSettingsView {
  readonly el: HTMLElement;
  readonly heading: HTMLHeadingElement;
  private readonly fields: Record<'name' | 'topic', Field>;
  private readonly formError: HTMLParagraphElement;
  private readonly status: HTMLParagraphElement;
  private readonly danger: HTMLElement;
  private readonly deleteButton: HTMLButtonElement;
  private readonly deleteError: HTMLParagraphElement;
  private room: Room | null = null;

  constructor(private readonly actions: RoomSettingsActions) {
    this.heading = h('h3', { id: 'settings-title', tabindex: '-1' }, 'Room settings');
    const close = h('button', { type: 'button', class: 'small quiet', 'aria-label': 'Close room settings' }, 'Close');
    close.addEventListener('click', () => this.actions.close());
    this.fields = {
      name: field('name', 'Room name', { required: true, maxlength: 80 }),
      topic: field('topic', 'Topic (optional)', { maxlength: 300 }),
    };
    this.formError = h('p', { class: 'form-error', role: 'alert' });
    this.status = h('p', { class: 'hint', role: 'status' });
    this.deleteButton = h('button', { type: 'button', class: 'danger' }, 'Delete room');
    this.deleteButton.addEventListener('click', () => this.confirmDelete());
    this.deleteError = h('p', { class: 'form-error', role: 'alert' });
    this.danger = h(
      'div',
      { class: 'danger-zone' },
      h('p', { class: 'hint' }, 'Deleting removes the room and all of its messages for everyone. It cannot be undone.'),
      this.deleteError,
      this.deleteButton,
    );
    this.el = h(
      'section',
      { class: 'settings', id: 'room-settings', 'aria-labelledby': 'settings-title', hidden: true },
      h('div', { class: 'members-header' }, this.heading, close),
      this.buildForm(),
      this.status,
      this.danger,
    );
    this.el.addEventListener('keydown', (ev) => {
      if (ev.key === 'Escape') this.actions.close();
    });
  }

  /** Fill the form from the room as it is now (on opening, and after each change). */
  show(room: Room): void {
    const switched = this.room?.id !== room.id;
    this.room = room;
    this.danger.hidden = !canDeleteRoom(room);
    if (switched || !this.el.contains(document.activeElement)) {
      this.fields.name.input.value = room.name;
      this.fields.topic.input.value = room.topic ?? '';
    }
    if (switched) {
      this.status.textContent = '';
      this.formError.textContent = '';
      this.deleteError.textContent = '';
      showFieldErrors(this.fields, {});
    }
  }

  private buildForm(): HTMLFormElement {
    const save = h('button', { type: 'submit', class: 'primary' }, 'Save changes');
    const form = h(
      'form',
      { class: 'stack', 'aria-labelledby': 'settings-title', novalidate: true },
      this.fields.name.wrap,
      this.fields.topic.wrap,
      this.formError,
      save,
    );
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      const room = this.room;
      if (!room) return;
      this.status.textContent = '';
      this.formError.textContent = '';
      const { errors, changes } = roomChanges(room, this.fields.name.input.value, this.fields.topic.input.value);
      if (showFieldErrors(this.fields, errors)) return;
      if (Object.keys(changes).length === 0) {
        this.status.textContent = 'Nothing to save: the name and topic are unchanged.';
        return;
      }
      void busy(save, async () => {
        try {
          await this.actions.save(changes);
          this.status.textContent = 'The room settings were saved.';
        } catch (err) {
          const problem = formProblem(err, ['name', 'topic']);
          showFieldErrors(this.fields, problem.fields);
          this.formError.textContent = problem.general;
        }
      });
    });
    return form;
  }

  private confirmDelete(): void {
    const room = this.room;
    if (!room) return;
    this.deleteError.textContent = '';
    if (!window.confirm(`Delete ${room.name} and all of its messages for everyone? This cannot be undone.`)) return;
    void busy(this.deleteButton, async () => {
      try {
        await this.actions.remove();
      } catch (err) {
        this.deleteError.textContent = `The room was not deleted. ${formProblem(err, []).general}`;
      }
    });
  }
}
