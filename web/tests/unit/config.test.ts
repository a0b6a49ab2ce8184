import { describe, expect, it } from 'vitest';
import { ApiError, describeFailure } from '../../src/api';
import { fallbackEndpoints, parseEndpoints } from '../../src/config';
import { queueErrorText } from '../../src/stomp';

describe('endpoints', () => {
  const fallback = fallbackEndpoints({ origin: 'http://127.0.0.1:3000', hostname: '127.0.0.1', protocol: 'http:' });

  it('falls back to the same origin and port 3001', () => {
    expect(fallback).toEqual({ http: 'http://127.0.0.1:3000', ws: 'ws://127.0.0.1:3001' });
    expect(fallbackEndpoints({ origin: 'https://chat.example', hostname: 'chat.example', protocol: 'https:' }).ws).toBe(
      'wss://chat.example:3001',
    );
  });

  it('reads config.json and drops a trailing slash', () => {
    expect(parseEndpoints({ http: 'https://api.example/prod/', ws: 'wss://ws.example/prod' }, fallback)).toEqual({
      http: 'https://api.example/prod',
      ws: 'wss://ws.example/prod',
    });
  });

  it('ignores a config that is not an object or lacks fields', () => {
    expect(parseEndpoints(null, fallback)).toEqual(fallback);
    expect(parseEndpoints({ ws: 'ws://x:1' }, fallback)).toEqual({ http: fallback.http, ws: 'ws://x:1' });
  });
});

describe('errors in words', () => {
  it('keeps field errors and the detail of a problem document', () => {
    const err = describeFailure(422, { detail: 'invalid fields: username', errors: [{ field: 'username', message: 'is taken' }] }, null);
    expect(err).toBeInstanceOf(ApiError);
    expect(err.message).toBe('Invalid fields: username.');
    expect(err.fields).toEqual({ username: 'is taken' });
  });

  it('says when to try again after a rate limit', () => {
    expect(describeFailure(429, null, '7').message).toBe('Too many attempts. Try again in 7 seconds.');
  });

  it('hides server internals', () => {
    expect(describeFailure(500, { detail: 'Traceback' }, null).message).toMatch(/on our side/);
  });

  it('translates STOMP error codes', () => {
    expect(queueErrorText({ type: 'error', code: 'rate-limited', message: 'x', retryAfter: 2 })).toMatch(/Wait 2 seconds/);
    expect(queueErrorText({ type: 'error', code: 'invalid-input', message: 'body: too long' })).toBe('Body: too long.');
  });
});
