import { describe, expect, it } from 'vitest';
import { parseConfig } from './config.js';
import { isError } from './errors.js';

const KEY = `0x${'11'.repeat(32)}`;
const CONTRACT = `0x${'22'.repeat(20)}`;
const minimal = {
  gatewayKey: KEY,
  chain: { rpcUrls: ['http://127.0.0.1:8545'], contract: CONTRACT },
  devices: [{ id: '1', kind: 'lock' }],
};

describe('parseConfig', () => {
  it('fills defaults around a minimal file', () => {
    const c = parseConfig(minimal);
    expect(c.gatewayId).toBe('gateway-1');
    expect(c.chain.confirmations).toBe(2);
    expect(c.mqtt.url).toBe('mqtt://127.0.0.1:1883');
    expect(c.devices).toEqual([{ id: 1n, kind: 'lock', pulseSeconds: 5, relay: { driver: 'sim' } }]);
  });

  it('lets the environment override the file', () => {
    const c = parseConfig(minimal, {
      LATCHKEY_RPC_URLS: 'http://a:1, http://b:2',
      LATCHKEY_HTTP_PORT: '9000',
      LATCHKEY_CONFIRMATIONS: '0',
    });
    expect(c.chain.rpcUrls).toEqual(['http://a:1', 'http://b:2']);
    expect(c.http.port).toBe(9000);
    expect(c.chain.confirmations).toBe(0);
  });

  it('lists every problem at once', () => {
    let caught: unknown;
    try {
      parseConfig({
        gatewayId: 'bad/id',
        gatewayKey: '0x1234',
        chain: { rpcUrls: ['ftp://x'], contract: 'nope', confirmations: -1 },
        http: { port: 70000 },
        devices: [
          { id: '1', kind: 'door', relay: { driver: 'laser' } },
          { id: '1', kind: 'socket' },
        ],
      });
    } catch (e) {
      caught = e;
    }
    expect(isError(caught, 'CONFIG_INVALID')).toBe(true);
    const text = (caught as Error).message;
    for (const field of [
      'gatewayId',
      'gatewayKey',
      'chain.rpcUrls[0]',
      'chain.contract',
      'chain.confirmations',
      'http.port',
      'devices[0].kind',
      'devices[0].relay.driver',
      'devices[1].id: device 1 is listed twice',
    ]) {
      expect(text).toContain(field);
    }
    expect(text).toMatch(/invalid configuration \(9 problems\)/);
  });

  it('refuses a gateway with no devices', () => {
    expect(() => parseConfig({ ...minimal, devices: [] })).toThrow(/at least one/);
  });
});
