/**
 * Form rules without the DOM: which words go next to which field. The server answers a bad
 * request with an RFC 9457 problem document naming each invalid field; a form shows each of
 * those messages beside its own field and anything it has no field for above the button.
 */

import { ApiError } from './api';

export type FieldErrors = Record<string, string>;

export interface FormProblem {
  /** Sentences by form field name; only fields the form has. */
  fields: FieldErrors;
  /** What belongs to no field, in words; empty when every message found its field. */
  general: string;
}

/** "at least 8 characters" → "At least 8 characters." */
export function sentence(text: string): string {
  const trimmed = text.trim();
  if (!trimmed) return '';
  return trimmed.charAt(0).toUpperCase() + trimmed.slice(1) + (/[.!?]$/.test(trimmed) ? '' : '.');
}

/** Split a failure between the form's fields and one general message. */
export function formProblem(err: unknown, formFields: readonly string[]): FormProblem {
  const fields: FieldErrors = {};
  const strays: string[] = [];
  if (err instanceof ApiError) {
    for (const [name, text] of Object.entries(err.fields)) {
      if (formFields.includes(name)) fields[name] = sentence(text);
      else strays.push(sentence(text));
    }
  }
  let general = '';
  if (strays.length > 0) general = strays.join(' ');
  else if (Object.keys(fields).length === 0) general = err instanceof Error ? err.message : 'Something went wrong. Try again.';
  return { fields, general };
}

export const PASSWORD_MIN_CHARS = 8;

/** What the page can tell before asking the server; the server still checks every rule. */
export function passwordFormErrors(current: string, next: string, repeat: string): FieldErrors {
  const errors: FieldErrors = {};
  if (!current) errors.currentPassword = 'Enter your current password.';
  if (!next) errors.newPassword = 'Enter a new password.';
  else if (next === current) errors.newPassword = 'Choose a password different from the current one.';
  if (next && repeat !== next) errors.repeatPassword = 'The two new passwords do not match.';
  return errors;
}

/** Room name and topic as the settings form sends them: only what changed, trimmed. */
export function roomChanges(
  before: { name: string; topic: string },
  name: string,
  topic: string,
): { errors: FieldErrors; changes: { name?: string; topic?: string } } {
  const errors: FieldErrors = {};
  const changes: { name?: string; topic?: string } = {};
  const cleanName = name.trim();
  const cleanTopic = topic.trim();
  if (!cleanName) errors.name = 'Give the room a name.';
  else if (cleanName !== before.name) changes.name = cleanName;
  if (cleanTopic !== (before.topic ?? '')) changes.topic = cleanTopic;
  return { errors, changes };
}
