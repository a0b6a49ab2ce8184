/** The members panel: who is in the room, who is online, roles; owners and admins manage it. */

import { ApiError } from '../api';
import { h, reconcile, uid } from '../dom';
import { canAddMembers, canRemoveMember, roleSwitch, roleWords } from '../permissions';
import type { Member, Role } from '../types';
import { busy, message as errorText } from './rooms';

export interface MembersActions {
  add(username: string, role: 'admin' | 'member'): Promise<void>;
  remove(member: Member): Promise<void>;
  changeRole(member: Member, role: 'admin' | 'member'): Promise<void>;
  close(): void;
}

const ROLE_ORDER: Record<Role, number> = { owner: 0, admin: 1, member: 2 };

export class MembersView {
  readonly el: HTMLElement;
  readonly heading: HTMLHeadingElement;
  private readonly list: HTMLUListElement;
  private readonly summary: HTMLParagraphElement;
  private readonly addForm: HTMLFormElement;
  private readonly status: HTMLParagraphElement;

  constructor(
    private readonly actions: MembersActions,
    private readonly myId: string,
  ) {
    this.heading = h('h2', { id: 'members-title', tabindex: '-1' }, 'Members');
    const close = h('button', { type: 'button', class: 'small quiet', 'aria-label': 'Close members' }, 'Close');
    close.addEventListener('click', () => this.actions.close());
    this.summary = h('p', { class: 'hint' });
    this.list = h('ul', { class: 'member-list', 'aria-labelledby': 'members-title' });
    this.status = h('p', { class: 'hint', role: 'status' });
    this.addForm = this.buildAddForm();
    this.el = h(
      'aside',
      { class: 'members', id: 'members-panel', 'aria-labelledby': 'members-title', hidden: true },
      h('div', { class: 'members-header' }, this.heading, close),
      this.summary,
      this.list,
      this.status,
      this.addForm,
    );
    this.el.addEventListener('keydown', (ev) => {
      if (ev.key === 'Escape') this.actions.close();
    });
  }

  render(members: Member[], online: Set<string>, myRole: Role | null, direct: boolean): void {
    this.addForm.hidden = !canAddMembers(myRole, direct);
    const sorted = [...members].sort(
      (a, b) =>
        Number(online.has(b.user.id)) - Number(online.has(a.user.id)) ||
        ROLE_ORDER[a.role] - ROLE_ORDER[b.role] ||
        a.user.displayName.localeCompare(b.user.displayName),
    );
    const count = members.filter((m) => online.has(m.user.id)).length;
    this.summary.textContent = `${members.length} member${members.length === 1 ? '' : 's'}, ${count} online`;
    reconcile(this.list, sorted, (m) => m.user.id, (m, existing) => {
      const isOnline = online.has(m.user.id);
      const removable = canRemoveMember(myRole, this.myId, m, direct);
      const switchTo = roleSwitch(myRole, this.myId, m, direct);
      const stamp = `${isOnline}|${m.role}|${removable}|${switchTo}`;
      if (existing && existing.dataset.stamp === stamp) return existing;
      const li = h(
        'li',
        { class: `member ${isOnline ? 'online' : 'offline'}`, 'data-user': m.user.username, 'data-presence': isOnline ? 'online' : 'offline' },
        h('span', { class: 'dot', 'aria-hidden': 'true' }),
        h(
          'span',
          { class: 'who' },
          h(
            'span',
            { class: 'name' },
            m.user.displayName + (m.user.id === this.myId ? ' (you)' : ''),
            m.role !== 'member' ? h('span', { class: `role ${m.role}` }, m.role) : null,
          ),
          h('span', { class: 'hint' }, `@${m.user.username} · ${isOnline ? 'online' : 'offline'}`),
        ),
      );
      if (switchTo) li.append(this.roleButton(m, switchTo));
      if (removable) {
        const remove = h('button', { type: 'button', class: 'small quiet', 'aria-label': `Remove ${m.user.displayName} from the room` }, 'Remove');
        remove.addEventListener('click', () => {
          if (!window.confirm(`Remove ${m.user.displayName} from this room?`)) return;
          void busy(remove, async () => {
            try {
              await this.actions.remove(m);
              this.status.textContent = `${m.user.displayName} was removed.`;
            } catch (err) {
              this.status.textContent = errorText(err);
            }
          });
        });
        li.append(remove);
      }
      li.dataset.stamp = stamp;
      return li;
    });
  }

  private roleButton(m: Member, role: 'admin' | 'member'): HTMLButtonElement {
    const label = role === 'admin' ? 'Make admin' : 'Make member';
    const button = h('button', { type: 'button', class: 'small quiet role-switch', 'aria-label': `Make ${m.user.displayName} ${roleWords(role)}` }, label);
    button.addEventListener('click', () => {
      void busy(button, async () => {
        try {
          await this.actions.changeRole(m, role);
          this.status.textContent = `${m.user.displayName} is now ${roleWords(role)}.`;
          // The row was redrawn with the opposite button: keep the keyboard where it was.
          if (!button.isConnected) this.list.querySelector<HTMLElement>(`li[data-key="${m.user.id}"] .role-switch`)?.focus();
        } catch (err) {
          this.status.textContent = `The role was not changed. ${errorText(err)}`;
        }
      });
    });
    return button;
  }

  private buildAddForm(): HTMLFormElement {
    const id = uid('add-member');
    const roleId = uid('add-role');
    const input = h('input', { id, name: 'username', autocomplete: 'off', required: true });
    const role = h('select', { id: roleId, name: 'role' }, h('option', { value: 'member' }, 'Member'), h('option', { value: 'admin' }, 'Admin'));
    const error = h('p', { class: 'field-error', role: 'alert' });
    const button = h('button', { type: 'submit', class: 'primary' }, 'Add');
    const form = h(
      'form',
      { class: 'stack', 'aria-label': 'Add a member' },
      h('h3', {}, 'Add a member'),
      h('div', { class: 'field' }, h('label', { for: id }, 'Username'), input),
      h('div', { class: 'field' }, h('label', { for: roleId }, 'Role'), role),
      error,
      button,
    );
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      error.textContent = '';
      const name = input.value.trim();
      if (!name) {
        error.textContent = 'Enter the username of the person to add.';
        input.focus();
        return;
      }
      void busy(button, async () => {
        try {
          await this.actions.add(name, role.value === 'admin' ? 'admin' : 'member');
          this.status.textContent = `${name} was added.`;
          form.reset();
          input.focus();
        } catch (err) {
          error.textContent = err instanceof ApiError && err.status === 404 ? `There is no user called “${name}”.` : errorText(err);
        }
      });
    });
    return form;
  }
}
