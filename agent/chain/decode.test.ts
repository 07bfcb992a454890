import { Interface } from 'ethers';
import { describe, expect, it } from 'vitest';
import { latchkeyAbi } from '../../contracts/generated/latchkey.js';
import { decodeRentalLog, LogDecodeError, type RawLog, TOPICS, uintTopic } from './decode.js';

const iface = new Interface(latchkeyAbi);
const U32 = (1n << 32n) - 1n;
const U64 = (1n << 64n) - 1n;
const U128 = (1n << 128n) - 1n;
const MAX_ADDRESS = '0xFFfFfFffFFfffFFfFFfFFFFFffFFFffffFfFFFfF';
const position = {
  address: '0x5fbdb2315678afecb367f032d93f642f64180aa3',
  blockNumber: '0x1f',
  blockHash: `0x${'ab'.repeat(32)}`,
  transactionHash: `0x${'CD'.repeat(32)}`,
  logIndex: '0x3',
};

function encode(name: string, values: unknown[]): RawLog {
  const event = iface.getEvent(name);
  if (!event) throw new Error(`no event ${name}`);
  const { data, topics } = iface.encodeEventLog(event, values);
  return { ...position, data, topics };
}

const SEED = 0xdec0de;
/** mulberry32, seeded: every run decodes the same values, and a failure names the seed to replay it. */
const next32 = (() => {
  let t = SEED;
  return () => {
    t = (t + 0x6d2b79f5) >>> 0;
    let r = Math.imul(t ^ (t >>> 15), 1 | t);
    r = (r + Math.imul(r ^ (r >>> 7), 61 | r)) ^ r;
    return (r ^ (r >>> 14)) >>> 0;
  };
})();

function random(bits: number): bigint {
  let v = 0n;
  for (let i = 0; i < bits; i += 32) v = (v << 32n) | BigInt(next32());
  return v & ((1n << BigInt(bits)) - 1n);
}

describe('decodeRentalLog', () => {
  it('uses the topic hashes of the contract ABI', () => {
    for (const name of ['Rented', 'Extended', 'Cancelled', 'Settled'] as const)
      expect(TOPICS[name]).toBe(iface.getEvent(name)?.topicHash);
  });

  it(`agrees with ethers parseLog on random (seed ${SEED}) and extreme values of every event`, () => {
    const guest = '0x70997970C51812dc3A010C7d01b50e0d17dc79C8';
    const cases: [string, unknown[]][] = [
      ['Rented', [(1n << 64n) | 7n, 1n, guest, U64, U64 - 1n, U128, U128, 0n, MAX_ADDRESS, U32, U32 - 1n]],
      ['Rented', [(1n << 64n) | 8n, 1n, guest, 1n, 2n, 3n, 4n, 5n, guest, 0n, 0n]],
      ['Extended', [U128 << 64n, U64, U64, U128]],
      ['Cancelled', [(3n << 64n) | 2n, 3n, U128, 0n]],
      ['Cancelled', [(3n << 64n) | 3n, 3n, 0n, U128]],
      ['Settled', [(2n << 64n) | 1n, 2n, U128, 0n, true]],
      ['Settled', [(2n << 64n) | 2n, 2n, 0n, U128, false]],
    ];
    for (let i = 0; i < 50; i++) {
      const id = random(128);
      cases.push([
        'Rented',
        [
          id,
          id >> 64n,
          guest,
          random(64),
          random(64),
          random(128),
          random(128),
          random(128),
          `0x${random(160).toString(16).padStart(40, '0')}`,
          random(32),
          random(32),
        ],
      ]);
      cases.push(['Extended', [id, id >> 64n, random(64), random(128)]]);
      cases.push(['Cancelled', [id, id >> 64n, random(128), random(128)]]);
      cases.push(['Settled', [id, id >> 64n, random(128), random(128), i % 2 === 0]]);
    }
    for (const [name, values] of cases) {
      const raw = encode(name, values);
      const ours = decodeRentalLog(raw);
      const theirs = iface.parseLog(raw);
      expect(theirs?.name).toBe(ours.kind);
      const a = theirs!.args;
      expect(ours.rentalId).toBe(a.rentalId);
      expect(ours.deviceId).toBe(a.deviceId);
      expect(ours.blockNumber).toBe(31);
      expect(ours.logIndex).toBe(3);
      expect(ours.key).toBe(`0x${'cd'.repeat(32)}:3`);
      if (ours.kind === 'Rented') {
        expect(ours.rental).toEqual({
          id: a.rentalId,
          guest: a.guest.toLowerCase(),
          start: a.start,
          end: a.end,
          deposit: a.deposit,
          pricePerSecond: a.pricePerSecond,
          pricePerWh: a.pricePerWh,
          signer: a.signer.toLowerCase(),
          maxWatts: a.maxWatts,
          cancelWindow: a.cancelWindow,
        });
      } else if (ours.kind === 'Extended') {
        expect([ours.end, ours.deposit]).toEqual([a.end, a.deposit]);
      } else if (ours.kind === 'Cancelled') {
        expect([ours.fee, ours.refund]).toEqual([a.fee, a.refund]);
      } else if (ours.kind === 'Settled') {
        expect([ours.charge, ours.refund, ours.byReceipt]).toEqual([a.charge, a.refund, a.byReceipt]);
      }
    }
  });

  it('rejects other events and malformed logs', () => {
    const rented = encode('Rented', [
      1n << 64n,
      1n,
      '0x70997970C51812dc3A010C7d01b50e0d17dc79C8',
      1n,
      2n,
      3n,
      4n,
      5n,
      '0x90F79bf6EB2c4f870365E785982E1f101E93b906',
      3_600n,
      6n,
    ]);
    const other = encode('PriceChanged', [1n, 2n, 3n, 4n]);
    expect(() => decodeRentalLog(other)).toThrow(LogDecodeError);
    expect(() => decodeRentalLog({ ...rented, data: rented.data.slice(0, -2) })).toThrow(/data words/);
    expect(() => decodeRentalLog({ ...rented, topics: rented.topics.slice(0, 3) })).toThrow(/topics/);
    // a uint64 field holding more than 64 bits cannot come from the contract
    const wide = `0x${'f'.repeat(64)}${rented.data.slice(66)}`;
    expect(() => decodeRentalLog({ ...rented, data: wide })).toThrow(/start/);
    const wideLast = `${rented.data.slice(0, -64)}${'f'.repeat(64)}`;
    expect(() => decodeRentalLog({ ...rented, data: wideLast })).toThrow(/cancelWindow/);
    // an address word with more than 160 bits cannot come from the contract either
    const wideSigner = `${rented.data.slice(0, 2 + 64 * 5)}${'f'.repeat(64)}${rented.data.slice(2 + 64 * 6)}`;
    expect(() => decodeRentalLog({ ...rented, data: wideSigner })).toThrow(/signer/);
    expect(() => decodeRentalLog({ ...rented, blockNumber: 'latest' })).toThrow(/blockNumber/);
    expect(() => decodeRentalLog({ ...rented, blockHash: '0x12' })).toThrow(/blockHash/);
  });

  it('makes 32-byte topics of uint256 values', () => {
    expect(uintTopic(1n)).toBe(`0x${'0'.repeat(63)}1`);
    expect(() => uintTopic(-1n)).toThrow(RangeError);
    expect(() => uintTopic(1n << 256n)).toThrow(RangeError);
  });
});
