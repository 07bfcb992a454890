import { describe, expect, it } from 'vitest';
import {
  decodeAvailability,
  decodeReply,
  decodeState,
  encodeReply,
  encodeState,
  TopicError,
  Topics,
} from './topics.js';

const UINT256_MAX = (1n << 256n) - 1n;

describe('Topics', () => {
  const topics = new Topics();

  it('builds the topic map under the default prefix', () => {
    expect(topics.availability('gw1')).toBe('latchkey/gw1/availability');
    expect(topics.access('gw1', 42n)).toBe('latchkey/gw1/42/access');
    expect(topics.state('gw1', 42n)).toBe('latchkey/gw1/42/state');
    expect(topics.reply('gw1', 42n, 'req-1.a_b~')).toBe('latchkey/gw1/42/reply/req-1.a_b~');
  });

  it('parses every topic it builds back to what built it', () => {
    const custom = new Topics('home/rentals');
    for (const t of [topics, custom]) {
      expect(t.parse(t.availability('gw1'))).toEqual({ kind: 'availability', gatewayId: 'gw1' });
      expect(t.parse(t.access('gw1', UINT256_MAX))).toEqual({
        kind: 'access',
        gatewayId: 'gw1',
        deviceId: UINT256_MAX,
      });
      expect(t.parse(t.state('gw1', 0n))).toEqual({ kind: 'state', gatewayId: 'gw1', deviceId: 0n });
      expect(t.parse(t.reply('gw1', 7n, 'r1'))).toEqual({
        kind: 'reply',
        gatewayId: 'gw1',
        deviceId: 7n,
        requestId: 'r1',
      });
    }
  });

  it('parses anything outside the map to undefined', () => {
    for (const topic of [
      'latchkey',
      'latchkey/gw1',
      'other/gw1/1/access',
      'latchkey/gw1/availability/x',
      'latchkey/gw1/01/access', // not canonical decimal
      'latchkey/gw1/-1/access',
      'latchkey/gw1/1e3/access',
      `latchkey/gw1/${UINT256_MAX + 1n}/access`,
      'latchkey/gw1/1/unlock',
      'latchkey/gw1/1/access/extra',
      'latchkey/gw1/1/reply',
      'latchkey/gw1/1/reply/bad id',
      'latchkey/gw1/1/reply/a/b/c',
      'latchkey/gw1/1/reply/a//b',
      'latchkey//1/access',
      'latchkey/+/1/access',
      'latchkey/#',
    ]) {
      expect(topics.parse(topic), topic).toBeUndefined();
    }
  });

  it('refuses gateway ids, prefixes and request ids that would break the topic tree', () => {
    for (const bad of ['', 'a/b', 'a+', '#', 'nul\u0000', 'x'.repeat(129)]) {
      expect(() => topics.access(bad, 1n), JSON.stringify(bad)).toThrow(TopicError);
    }
    for (const bad of ['', '/latchkey', 'latchkey/', 'a//b', 'a/+', '#']) {
      expect(() => new Topics(bad), bad).toThrow(TopicError);
    }
    for (const bad of ['', 'a/b/c', '/a', 'a/', 'has space', 'x'.repeat(65), '+']) {
      expect(() => topics.reply('gw1', 1n, bad), bad).toThrow(TopicError);
    }
    expect(() => topics.access('gw1', -1n)).toThrow(TopicError);
    expect(() => topics.access('gw1', UINT256_MAX + 1n)).toThrow(TopicError);
  });
});

describe('payloads', () => {
  it('encodes state with bigints as decimal strings and leaves absent fields out', () => {
    const text = encodeState({
      deviceId: 2n ** 200n,
      kind: 'lock',
      relay: 'open',
      rentalId: 12345678901234567890n,
      leaseEndsAt: 1_763_900_000,
      usedSeconds: 30,
      energyWh: 0.5,
    });
    expect(JSON.parse(text)).toEqual({
      deviceId: (2n ** 200n).toString(),
      kind: 'lock',
      relay: 'open',
      status: 'locked',
      rentalId: '12345678901234567890',
      leaseEndsAt: 1_763_900_000,
      usedSeconds: 30,
      energyWh: 0.5,
    });
    const idle = encodeState({ deviceId: 1n, kind: 'socket', relay: 'open', usedSeconds: 0, energyWh: 0 });
    expect(decodeState(idle)).toEqual({
      deviceId: '1',
      kind: 'socket',
      relay: 'open',
      status: 'off',
      usedSeconds: 0,
      energyWh: 0,
    });
    const cutOff = encodeState({
      deviceId: 2n,
      kind: 'socket',
      relay: 'open',
      rentalId: 9n,
      usedSeconds: 40,
      energyWh: 36.6,
      prepaidEnergyWh: 36.6,
      offReason: 'prepaid-energy-used',
    });
    expect(decodeState(cutOff)).toMatchObject({ prepaidEnergyWh: 36.6, offReason: 'prepaid-energy-used' });
    const signerRevoked = `0x${'ab'.repeat(20)}`;
    const revoked = encodeState({
      deviceId: 2n,
      kind: 'socket',
      relay: 'open',
      usedSeconds: 0,
      energyWh: 0,
      signerRevoked,
    });
    expect(decodeState(revoked)).toMatchObject({ signerRevoked });
  });

  it('says locked/unlocked for a lock and on/off for a socket', () => {
    const status = (kind: 'lock' | 'socket', relay: 'open' | 'closed') =>
      decodeState(encodeState({ deviceId: 1n, kind, relay, usedSeconds: 0, energyWh: 0 })).status;
    expect(status('lock', 'open')).toBe('locked');
    expect(status('lock', 'closed')).toBe('unlocked');
    expect(status('socket', 'open')).toBe('off');
    expect(status('socket', 'closed')).toBe('on');
  });

  it('refuses state messages of the wrong shape', () => {
    for (const bad of [
      'nope',
      '[]',
      '{"deviceId":1,"kind":"lock","relay":"open","status":"locked","usedSeconds":0,"energyWh":0}',
      '{"deviceId":"1","kind":"lock","relay":"open","usedSeconds":0,"energyWh":0}',
      '{"deviceId":"1","kind":"lock","relay":"open","status":"unlocked","usedSeconds":0,"energyWh":0}',
      '{"deviceId":"1","kind":"lock","relay":"closed","status":"on","usedSeconds":0,"energyWh":0}',
      '{"deviceId":"1","kind":"door","relay":"open","usedSeconds":0,"energyWh":0}',
      '{"deviceId":"1","kind":"lock","relay":"open","usedSeconds":0,"energyWh":0,"rentalId":"0x1"}',
      '{"deviceId":"1","kind":"socket","relay":"open","usedSeconds":0,"energyWh":0,"prepaidEnergyWh":"9"}',
      '{"deviceId":"1","kind":"socket","relay":"open","usedSeconds":0,"energyWh":0,"offReason":"tired"}',
      '{"deviceId":"1","kind":"socket","relay":"open","status":"off","usedSeconds":0,"energyWh":0,"signerRevoked":"yes"}',
    ]) {
      expect(() => decodeState(bad), bad).toThrow(TopicError);
    }
  });

  it("carries the hardware's health, fault and door alarm, and refuses them malformed", () => {
    const base = { deviceId: 3n, kind: 'lock', relay: 'open', usedSeconds: 0, energyWh: 0 } as const;
    const fault = 'lock reports not_fully_locked';
    const faulted = encodeState({ ...base, health: 'faulted', fault, doorAlarm: true });
    expect(decodeState(faulted)).toMatchObject({ health: 'faulted', fault, doorAlarm: true });
    expect(decodeState(encodeState({ ...base, health: 'offline' }))).toMatchObject({ health: 'offline' });
    expect(decodeState(encodeState(base))).not.toHaveProperty('health');
    const good =
      '{"deviceId":"3","kind":"lock","relay":"open","status":"locked","usedSeconds":0,"energyWh":0';
    expect(decodeState(`${good}}`)).toMatchObject({ status: 'locked' });
    for (const extra of ['"health":"tired"', '"fault":7', '"doorAlarm":false'])
      expect(() => decodeState(`${good},${extra}}`), extra).toThrow(TopicError);
  });

  it('round-trips reply envelopes and refuses anything else', () => {
    const ok = { status: 'ok', data: { relay: 'closed', rentalId: 5n } } as const;
    expect(decodeReply(encodeReply(ok))).toEqual({ status: 'ok', data: { relay: 'closed', rentalId: '5' } });
    const error = { status: 'error', error: { code: 'nonce-used', message: 'token already used' } } as const;
    expect(decodeReply(Buffer.from(encodeReply(error)))).toEqual(error);
    for (const bad of ['{}', '{"status":"ok"}', '{"status":"error","error":{"code":1,"message":"x"}}', 'x']) {
      expect(() => decodeReply(bad), bad).toThrow(TopicError);
    }
  });

  it('accepts only online and offline as availability', () => {
    expect(decodeAvailability(Buffer.from('online'))).toBe('online');
    expect(decodeAvailability('offline')).toBe('offline');
    expect(() => decodeAvailability('ONLINE')).toThrow(TopicError);
  });
});
