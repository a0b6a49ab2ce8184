import { describe, expect, it } from 'vitest';
import { ApiError, describeFailure } from '../../src/api';
import { formProblem, passwordFormErrors, roomChanges, sentence } from '../../src/forms';

describe('field messages', () => {
  it('turns a server fragment into a sentence', () => {
    expect(sentence('at least 8 characters')).toBe('At least 8 characters.');
    expect(sentence('Already a sentence!')).toBe('Already a sentence!');
    expect(sentence('  ')).toBe('');
  });

  it('puts each problem field beside the form field of that name', () => {
    const err = describeFailure(
      422,
      {
        detail: 'name: must not be empty',
        errors: [
          { field: 'name', message: 'must not be empty' },
          { field: 'topic', message: 'at most 300 characters' },
        ],
      },
      null,
    );
    expect(formProblem(err, ['name', 'topic'])).toEqual({
      fields: { name: 'Must not be empty.', topic: 'At most 300 characters.' },
      general: '',
    });
  });

  it('says what belongs to no field of the form above the button', () => {
    const err = new ApiError('Invalid fields: body.', 422, { body: 'a JSON body is required', name: 'must not be empty' });
    expect(formProblem(err, ['name'])).toEqual({ fields: { name: 'Must not be empty.' }, general: 'A JSON body is required.' });
  });

  it('uses the whole message when no field is named', () => {
    const err = describeFailure(403, { detail: 'only the owner may delete the room' }, null);
    expect(formProblem(err, ['name'])).toEqual({ fields: {}, general: 'Only the owner may delete the room.' });
    expect(formProblem(new Error('offline'), [])).toEqual({ fields: {}, general: 'offline' });
    expect(formProblem('weird', []).general).toBe('Something went wrong. Try again.');
  });
});

describe('the password form', () => {
  it('asks for every field and a matching repeat', () => {
    expect(passwordFormErrors('', '', '')).toEqual({
      currentPassword: 'Enter your current password.',
      newPassword: 'Enter a new password.',
    });
    expect(passwordFormErrors('old secret', 'new secret', 'new secrets')).toEqual({
      repeatPassword: 'The two new passwords do not match.',
    });
    expect(passwordFormErrors('same one', 'same one', 'same one')).toEqual({
      newPassword: 'Choose a password different from the current one.',
    });
  });

  it('leaves the length rule to the server', () => {
    expect(passwordFormErrors('old secret', 'short', 'short')).toEqual({});
  });
});

describe('room settings', () => {
  const before = { name: 'Plans', topic: 'Weekly' };

  it('sends only what changed, trimmed', () => {
    expect(roomChanges(before, ' Plans ', 'Weekly')).toEqual({ errors: {}, changes: {} });
    expect(roomChanges(before, 'Roadmap', ' Weekly ')).toEqual({ errors: {}, changes: { name: 'Roadmap' } });
    expect(roomChanges(before, 'Plans', '')).toEqual({ errors: {}, changes: { topic: '' } });
  });

  it('needs a name', () => {
    expect(roomChanges(before, '   ', 'Monthly')).toEqual({ errors: { name: 'Give the room a name.' }, changes: { topic: 'Monthly' } });
  });
});
