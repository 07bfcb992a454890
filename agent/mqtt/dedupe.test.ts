import { describe, expect, it } from 'vitest';
import { messageKey, RecentMessages } from './dedupe.js';

describe('RecentMessages', () => {
  it('remembers a message for the window and forgets it after', () => {
    let now = 1_000;
    const recent = new RecentMessages<string>({ windowMs: 60_000, maxEntries: 10, now: () => now });
    recent.add('a', 'first answer');
    now += 59_999;
    expect(recent.get('a')).toBe('first answer');
    now += 1;
    expect(recent.get('a')).toBeUndefined();
    expect(recent.size).toBe(0);
  });

  it('holds at most maxEntries, forgetting the oldest first', () => {
    const recent = new RecentMessages<number>({ windowMs: 60_000, maxEntries: 3, now: () => 0 });
    for (let i = 0; i < 5; i++) recent.add(`k${i}`, i);
    expect(recent.size).toBe(3);
    expect(recent.get('k1')).toBeUndefined();
    expect([recent.get('k2'), recent.get('k3'), recent.get('k4')]).toEqual([2, 3, 4]);
  });

  it('remembers a shortened message for the short window only, and sheds those first when full', () => {
    let now = 0;
    const recent = new RecentMessages<string>({
      windowMs: 60_000,
      shortWindowMs: 2_000,
      maxEntries: 3,
      now: () => now,
    });
    recent.add('ok', 'granted');
    recent.add('bad', 'refused');
    recent.shorten('bad', 'refused');
    recent.shorten('ok', 'another value'); // not what 'ok' holds: left alone
    now += 1_999;
    expect([recent.get('ok'), recent.get('bad')]).toEqual(['granted', 'refused']);
    now += 1;
    expect(recent.get('bad')).toBeUndefined();
    expect(recent.get('ok')).toBe('granted');

    // A burst of refusals beyond maxEntries pushes out refusals, not the granted message.
    for (let i = 0; i < 5; i++) {
      recent.add(`r${i}`, 'refused');
      recent.shorten(`r${i}`, 'refused');
    }
    expect(recent.size).toBe(3);
    expect([recent.get('ok'), recent.get('r3'), recent.get('r4'), recent.get('r2')]).toEqual([
      'granted',
      'refused',
      'refused',
      undefined,
    ]);
    // Added again, a shortened key is remembered for the long window.
    recent.add('r4', 'granted later');
    now += 2_000;
    expect(recent.get('r4')).toBe('granted later');
  });

  it('keys on topic and payload together', () => {
    const payload = Buffer.from('{"id":"1"}');
    expect(messageKey('t/1/access', payload)).toBe(messageKey('t/1/access', Buffer.from('{"id":"1"}')));
    expect(messageKey('t/1/access', payload)).not.toBe(messageKey('t/2/access', payload));
    expect(messageKey('t/1/access', payload)).not.toBe(messageKey('t/1/access', Buffer.from('{"id":"2"}')));
    // The separator keeps (topic, payload) pairs that concatenate alike apart.
    expect(messageKey('ab', Buffer.from('c'))).not.toBe(messageKey('a', Buffer.from('bc')));
  });
});
