/** Labelled form fields whose errors sit beside them, read out with the field. */

import { h, uid } from '../dom';
import type { FieldErrors } from '../forms';

export interface Field {
  wrap: HTMLDivElement;
  input: HTMLInputElement;
  error: HTMLParagraphElement;
}

type InputAttrs = Record<string, string | number | boolean>;

export function field(name: string, label: string, attrs: InputAttrs = {}, hint = ''): Field {
  const id = uid(name);
  const errId = `${id}-error`;
  const hintId = `${id}-hint`;
  const input = h('input', { id, name, autocomplete: 'off', ...attrs, 'aria-describedby': `${hint ? hintId : ''} ${errId}`.trim() });
  const error = h('p', { id: errId, class: 'field-error' });
  const wrap = h(
    'div',
    { class: 'field' },
    h('label', { for: id }, label),
    hint ? h('p', { id: hintId, class: 'hint' }, hint) : null,
    input,
    error,
  );
  return { wrap, input, error };
}

/** Show each message beside its field, mark the fields invalid and focus the first of them. */
export function showFieldErrors(fields: Record<string, Field>, errors: FieldErrors): boolean {
  let first: HTMLInputElement | null = null;
  for (const [name, f] of Object.entries(fields)) {
    const text = errors[name] ?? '';
    f.error.textContent = text;
    if (text) {
      f.input.setAttribute('aria-invalid', 'true');
      first ??= f.input;
    } else {
      f.input.removeAttribute('aria-invalid');
    }
  }
  first?.focus();
  return first !== null;
}
