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

  it('keys on topic and payload together', () => {
    const payload = Buffer.from('{"id":"1"}');
    expect(messageKey('t/1/access', payload)).toBe(messageKey('t/1/access', Buffer.from('{"id":"1"}')));
    expect(messageKey('t/1/access', payload)).not.toBe(messageKey('t/2/access', payload));
    expect(messageKey('t/1/access', payload)).not.toBe(messageKey('t/1/access', Buffer.from('{"id":"2"}')));
    // The separator keeps (topic, payload) pairs that concatenate alike apart.
    expect(messageKey('ab', Buffer.from('c'))).not.toBe(messageKey('a', Buffer.from('bc')));
  });
});
