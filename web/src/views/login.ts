/** Sign in and create an account: one form, two modes, errors next to the fields. */

import { ApiError } from '../api';
import { h } from '../dom';
import { type Field, field as sharedField } from './fields';
import type { Session } from '../types';

export interface LoginActions {
  login(username: string, password: string): Promise<Session>;
  register(username: string, password: string, displayName: string): Promise<Session>;
  done(session: Session): void;
}

export function loginView(actions: LoginActions, notice = ''): HTMLElement {
  let mode: 'login' | 'register' = 'login';
  // The shared labelled field (error beside it, read out with it); only the display name
  // may stay empty.
  const field = (name: string, label: string, type: string, autocomplete: string): Field =>
    sharedField(name, label, { type, autocomplete, required: name !== 'displayName' });

  const username = field('username', 'Username', 'text', 'username');
  const displayName = field('displayName', 'Display name (optional)', 'text', 'nickname');
  const password = field('password', 'Password', 'password', 'current-password');
  const heading = h('h1', { id: 'auth-title', tabindex: '-1' }, 'Sign in to ChatFlow');
  const formError = h('div', { class: 'form-error', role: 'alert' });
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Sign in');
  const switcher = h('button', { type: 'button', class: 'link' }, 'Create an account');
  const switchText = h('span', {}, 'New here? ');

  const fields = { username, displayName, password } as const;

  const setMode = (next: 'login' | 'register') => {
    mode = next;
    const reg = mode === 'register';
    heading.textContent = reg ? 'Create your ChatFlow account' : 'Sign in to ChatFlow';
    submit.textContent = reg ? 'Create account' : 'Sign in';
    switchText.textContent = reg ? 'Already have an account? ' : 'New here? ';
    switcher.textContent = reg ? 'Sign in instead' : 'Create an account';
    displayName.wrap.hidden = !reg;
    password.input.autocomplete = reg ? 'new-password' : 'current-password';
    clearErrors();
    heading.focus();
  };

  const clearErrors = () => {
    formError.textContent = '';
    for (const f of Object.values(fields)) {
      f.error.textContent = '';
      f.input.removeAttribute('aria-invalid');
    }
  };

  const form = h(
    'form',
    { class: 'auth-form', 'aria-labelledby': 'auth-title', novalidate: true },
    heading,
    notice ? h('p', { class: 'notice', role: 'status' }, notice) : null,
    formError,
    username.wrap,
    displayName.wrap,
    password.wrap,
    submit,
    h('p', { class: 'switch' }, switchText, switcher),
  );
  displayName.wrap.hidden = true;
  switcher.addEventListener('click', () => setMode(mode === 'login' ? 'register' : 'login'));

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clearErrors();
    const name = username.input.value.trim();
    const pass = password.input.value;
    let firstBad: HTMLInputElement | null = null;
    if (!name) {
      username.error.textContent = 'Enter your username.';
      username.input.setAttribute('aria-invalid', 'true');
      firstBad = username.input;
    }
    if (!pass) {
      password.error.textContent = 'Enter your password.';
      password.input.setAttribute('aria-invalid', 'true');
      firstBad ??= password.input;
    }
    if (firstBad) {
      firstBad.focus();
      return;
    }
    submit.disabled = true;
    submit.setAttribute('aria-busy', 'true');
    try {
      const session =
        mode === 'login'
          ? await actions.login(name, pass)
          : await actions.register(name, pass, displayName.input.value.trim());
      actions.done(session);
    } catch (err) {
      const apiErr = err instanceof ApiError ? err : null;
      let focused = false;
      for (const [fieldName, message] of Object.entries(apiErr?.fields ?? {})) {
        const f = fields[fieldName as keyof typeof fields];
        if (!f) continue;
        f.error.textContent = message.charAt(0).toUpperCase() + message.slice(1) + '.';
        f.input.setAttribute('aria-invalid', 'true');
        if (!focused) f.input.focus();
        focused = true;
      }
      if (!focused) {
        formError.textContent =
          apiErr?.status === 401
            ? 'That username and password do not match. Check them and try again.'
            : apiErr?.message ?? 'Something went wrong. Try again.';
      }
    } finally {
      submit.disabled = false;
      submit.removeAttribute('aria-busy');
    }
  });

  const page = h(
    'main',
    { class: 'auth-page', id: 'main' },
    h('div', { class: 'brand', 'aria-hidden': 'true' }, 'ChatFlow'),
    form,
  );
  queueMicrotask(() => username.input.focus());
  return page;
}
