/** The signed-in person's account page: who they are, and changing the password. */

import { h } from '../dom';
import { PASSWORD_MIN_CHARS, formProblem, passwordFormErrors } from '../forms';
import type { User } from '../types';
import { type Field, field, showFieldErrors } from './fields';
import { busy } from './rooms';

export interface AccountActions {
  /** Resolves once the new password works and the page holds the new session. */
  changePassword(currentPassword: string, newPassword: string): Promise<void>;
}

type PasswordField = 'currentPassword' | 'newPassword' | 'repeatPassword';

export class AccountView {
  readonly el: HTMLElement;
  readonly heading: HTMLHeadingElement;
  private readonly fields: Record<PasswordField, Field>;
  private readonly formError: HTMLParagraphElement;
  private readonly status: HTMLParagraphElement;
  private readonly form: HTMLFormElement;

  constructor(
    private readonly actions: AccountActions,
    me: User,
  ) {
    this.heading = h('h2', { id: 'account-title', tabindex: '-1' }, 'Your account');
    this.fields = {
      currentPassword: field('currentPassword', 'Current password', { type: 'password', autocomplete: 'current-password' }),
      newPassword: field(
        'newPassword',
        'New password',
        { type: 'password', autocomplete: 'new-password' },
        `Use at least ${PASSWORD_MIN_CHARS} characters.`,
      ),
      repeatPassword: field('repeatPassword', 'Repeat the new password', { type: 'password', autocomplete: 'new-password' }),
    };
    this.formError = h('p', { class: 'form-error', role: 'alert' });
    this.status = h('p', { class: 'hint', role: 'status' });
    this.form = this.buildForm();
    this.el = h(
      'section',
      { class: 'account', 'aria-labelledby': 'account-title', hidden: true },
      h('a', { href: '#/', class: 'back' }, '‹ Back to your rooms'),
      this.heading,
      h('p', {}, `Signed in as ${me.displayName} (@${me.username}).`),
      this.form,
      this.status,
    );
  }

  /** Show the page with an empty form, its heading focused for screen readers. */
  open(): void {
    this.form.reset();
    this.formError.textContent = '';
    showFieldErrors(this.fields, {});
    this.el.hidden = false;
    this.heading.focus();
  }

  private buildForm(): HTMLFormElement {
    const submit = h('button', { type: 'submit', class: 'primary' }, 'Change password');
    const form = h(
      'form',
      { class: 'stack', 'aria-labelledby': 'password-title', novalidate: true },
      h('h3', { id: 'password-title' }, 'Change password'),
      h('p', { class: 'hint' }, 'Other browsers signed in to your account will have to sign in again.'),
      this.fields.currentPassword.wrap,
      this.fields.newPassword.wrap,
      this.fields.repeatPassword.wrap,
      this.formError,
      submit,
    );
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      this.status.textContent = '';
      this.formError.textContent = '';
      const current = this.fields.currentPassword.input.value;
      const next = this.fields.newPassword.input.value;
      const repeat = this.fields.repeatPassword.input.value;
      if (showFieldErrors(this.fields, passwordFormErrors(current, next, repeat))) return;
      void busy(submit, async () => {
        try {
          await this.actions.changePassword(current, next);
          form.reset();
          this.status.textContent = 'Your password was changed. Use the new one the next time you sign in.';
        } catch (err) {
          const problem = formProblem(err, ['currentPassword', 'newPassword']);
          showFieldErrors(this.fields, problem.fields);
          this.formError.textContent = problem.general;
        }
      });
    });
    return form;
  }
}
