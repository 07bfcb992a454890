import { Interface } from 'ethers';
import { describe, expect, it } from 'vitest';
import { latchkeyAbi } from '../../contracts/generated/latchkey.js';
import { LogDecodeError, type RawLog } from './decode.js';
import { decodeSignerLog, isSignerLog, SIGNER_TOPICS } from './signerLogs.js';

const iface = new Interface(latchkeyAbi);
const position = {
  address: '0x5fbdb2315678afecb367f032d93f642f64180aa3',
  blockNumber: '0x1f',
  blockHash: `0x${'ab'.repeat(32)}`,
  transactionHash: `0x${'CD'.repeat(32)}`,
  logIndex: '0x3',
};
const HOST = '0x70997970C51812dc3A010C7d01b50e0d17dc79C8';
const KEY = '0xFFfFfFffFFfffFFfFFfFFFFFffFFFffffFfFFFfF';

function encode(name: string, values: unknown[]): RawLog {
  const event = iface.getEvent(name);
  if (!event) throw new Error(`no event ${name}`);
  const { data, topics } = iface.encodeEventLog(event, values);
  return { ...position, data, topics };
}

describe('decodeSignerLog', () => {
  it("uses the contract ABI's topics", () => {
    expect(SIGNER_TOPICS.SignerChanged).toBe(iface.getEvent('SignerChanged')?.topicHash);
    expect(SIGNER_TOPICS.SignerRevoked).toBe(iface.getEvent('SignerRevoked')?.topicHash);
  });

  it('decodes SignerChanged and SignerRevoked as ethers encodes them, addresses lower-case', () => {
    const changed = encode('SignerChanged', [(1n << 255n) + 7n, KEY]);
    expect(isSignerLog(changed)).toBe(true);
    expect(decodeSignerLog(changed)).toMatchObject({
      kind: 'changed',
      deviceId: (1n << 255n) + 7n,
      signer: KEY.toLowerCase(),
      blockNumber: 31,
      logIndex: 3,
      key: `0x${'cd'.repeat(32)}:3`,
    });
    expect(decodeSignerLog(encode('SignerRevoked', [HOST, KEY]))).toMatchObject({
      kind: 'revoked',
      host: HOST.toLowerCase(),
      signer: KEY.toLowerCase(),
    });
  });

  it('refuses other events and malformed logs', () => {
    const changed = encode('SignerChanged', [1n, KEY]);
    const revoked = encode('SignerRevoked', [HOST, KEY]);
    const cancelled = encode('Cancelled', [1n, 1n, 0n, 1n]);
    expect(isSignerLog(cancelled)).toBe(false);
    for (const bad of [
      cancelled,
      { ...changed, data: `${changed.data}00` },
      { ...changed, data: `0x${'11'.repeat(32)}` }, // not an address
      { ...changed, topics: [...changed.topics, changed.topics[1] as string] },
      { ...revoked, data: `0x${'00'.repeat(32)}` },
      { ...revoked, topics: revoked.topics.slice(0, 2) },
      {
        ...revoked,
        topics: [revoked.topics[0] as string, `0x${'ff'.repeat(32)}`, revoked.topics[2] as string],
      },
      { ...revoked, blockHash: '0x12' },
    ]) {
      expect(() => decodeSignerLog(bad)).toThrow(LogDecodeError);
    }
  });
});
