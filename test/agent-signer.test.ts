// A gateway configured for a device whose signer on chain is another key refuses to start: only the
// device's own gateway accepts its tokens (a second gateway could grant, but its receipts never settle).

import { join } from 'node:path';
import { Wallet } from 'ethers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent } from '../agent/agent.js';
import { type Embedded, startEmbedded } from '../agent/embedded.js';
import { isError } from '../agent/errors.js';
import { createLogger } from '../agent/log.js';
import { tempDir, testLog } from './system.js';

let e: Embedded;
const dir = tempDir('latchkey-signer-');

beforeAll(async () => {
  e = await startEmbedded({ log: testLog, blockTime: 0 });
}, 60_000);
afterAll(async () => {
  await e?.stop();
  dir.remove();
});

describe('agent start with the on-chain signers', () => {
  it("refuses to serve a device whose signer is another gateway's key, naming the device and both keys", async () => {
    const other = Wallet.createRandom();
    const agent = new Agent(
      { ...e.config, gatewayId: 'gateway-2', dataDir: join(dir.path, 'a'), gatewayKey: other.privateKey },
      testLog,
    );
    const error = await agent.start().then(
      () => undefined,
      (err: unknown) => err,
    );
    await agent.stop();
    expect(isError(error, 'CONFIG_INVALID')).toBe(true);
    const message = (error as Error).message;
    expect(message).toContain(`device 1: its signer on chain is ${e.gateway.address.toLowerCase()}`);
    expect(message).toContain(other.address.toLowerCase());
  });

  it('starts with a device not registered yet, warning about it', async () => {
    const lines: string[] = [];
    const agent = new Agent(
      {
        ...e.config,
        dataDir: join(dir.path, 'b'),
        http: { ...e.config.http, port: 0 },
        mqtt: { ...e.config.mqtt, url: 'mqtt://127.0.0.1:1' },
        devices: [{ id: 99n, kind: 'lock', pulseSeconds: 1, relay: { driver: 'sim' } }],
      },
      createLogger('t', { level: 'warn', json: true, write: (l) => lines.push(l) }),
    );
    try {
      await agent.start();
      expect(lines.some((l) => l.includes('devices not registered on chain yet') && l.includes('99'))).toBe(
        true,
      );
    } finally {
      await agent.stop();
    }
  });
});
