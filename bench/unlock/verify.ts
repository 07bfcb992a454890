// Pure access-check throughput for the unlock benchmark: verifyAccess on valid tokens, its cost split
// (parse, EIP-712 digest, signature recovery), and ethers' TypedDataEncoder / recoverAddress /
// verifyTypedData on the same tokens in the same run.

import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
// @noble/curves as installed through ethers, measured beside @noble/secp256k1 (issue 11, item 5).
import { secp256k1 as curves } from '@noble/curves/secp256k1';
import { recoverAddress as ethersRecover, TypedDataEncoder, verifyTypedData, Wallet } from 'ethers';
import { verifyP256 } from '../../agent/access/p256.js';
import { decodePayload, parseToken } from '../../agent/access/token.js';
import { type VerifyContext, verifyAccess } from '../../agent/access/verify.js';
import type { StoredRental } from '../../agent/store/store.js';
import {
  accessDigest,
  addressOfPublicKey,
  bytesToHex,
  domainSeparator,
  hexToBytes,
  recoverAddress,
} from '../../contracts/eip712.js';
import { ACCESS_TYPES, type Access, domain } from '../../contracts/typedData.js';
import { median, round } from './stats.js';
import { randomNonce, sessionKeyPair, signSessionToken, signToken } from './tokens.js';

const CURVES_VERSION = (
  JSON.parse(
    readFileSync(new URL('../../node_modules/@noble/curves/package.json', import.meta.url), 'utf8'),
  ) as { version: string }
).version;

export interface Rate {
  opsPerSecond: number;
  microsPerOp: number;
  iterations: number;
}

export interface VerifyResult {
  tokens: number;
  ours: { verifyAccess: Rate; parse: Rate; digest: Rate; recovery: Rate };
  /**
   * µs per verifyAccess call, split by timing each step on its own; `rest` = the difference (checks,
   * hex decoding, address compare; noise between separately timed loops can make it 0).
   */
  splitMicros: { parse: number; digest: number; recovery: number; rest: number };
  ethers: { typedDataHash: Rate; recoverAddress: Rate; verifyTypedData: Rate; hashPlusRecover: Rate };
  ratios: { digest: number; recovery: number; full: number };
  /** Session tokens: the whole verifyAccess, and its one native step (node:crypto P-256 verify). */
  session: { verifyAccess: Rate; p256Verify: Rate };
  /** secp256k1 public-key recovery of the same signatures: @noble/secp256k1 (ours) vs @noble/curves. */
  secp256k1: { nobleSecp256k1: Rate; nobleCurves: Rate; curvesSpeedup: number; curvesVersion: string };
}

/** One timed slice of `op` over inputs round-robin, at least `ms` long: µs per call. */
function slice(op: (i: number) => unknown, n: number, ms: number, state: { i: number }): number {
  let sink: unknown;
  let calls = 0;
  const t0 = performance.now();
  let elapsed = 0;
  while (elapsed < ms) {
    for (let k = 0; k < 5; k++) {
      sink = op(state.i++ % n);
      calls++;
    }
    elapsed = performance.now() - t0;
  }
  if (sink === Symbol.for('never')) throw new Error('unreachable');
  return (elapsed * 1000) / calls;
}

/**
 * Times every op in ROUNDS interleaved slices and keeps each op's median µs per call, so a burst of
 * load from other processes on the machine skews one slice, not one op.
 */
function measureInterleaved<K extends string>(
  ops: Record<K, { op: (i: number) => unknown; ms: number }>,
  n: number,
): Record<K, Rate> {
  const ROUNDS = 15;
  const keys = Object.keys(ops) as K[];
  const states = Object.fromEntries(keys.map((k) => [k, { i: 0 }])) as Record<K, { i: number }>;
  const samples = Object.fromEntries(keys.map((k) => [k, [] as number[]])) as Record<K, number[]>;
  for (const k of keys) slice(ops[k].op, n, 100, states[k]); // warm-up: JIT and caches
  for (let r = 0; r < ROUNDS; r++)
    for (const k of keys) samples[k].push(slice(ops[k].op, n, ops[k].ms / ROUNDS, states[k]));
  return Object.fromEntries(
    keys.map((k) => {
      const us = median(samples[k]);
      return [k, { opsPerSecond: Math.round(1e6 / us), microsPerOp: round(us, 2), iterations: states[k].i }];
    }),
  ) as Record<K, Rate>;
}

export function benchVerify(count = 200): VerifyResult {
  const chainId = 31337n;
  const contract = `0x${randomBytes(20).toString('hex')}`;
  const dom = domain(chainId, contract);
  const separator = domainSeparator(dom);
  const wallet = Wallet.createRandom();
  const key = hexToBytes(wallet.privateKey);
  const now = Math.floor(Date.now() / 1000);
  const deviceId = 1n;
  const rental: StoredRental = {
    id: (deviceId << 64n) | 1n,
    guest: wallet.address,
    start: BigInt(now - 60),
    end: BigInt(now + 3600),
    deposit: 1n,
    pricePerSecond: 1n,
    pricePerWh: 0n,
    signer: wallet.address,
    maxWatts: 0n,
    cancelWindow: 0n,
    deviceId,
    status: 'open',
    blockNumber: 1,
    blockHash: `0x${'00'.repeat(32)}`,
  };
  const wire = Array.from({ length: count }, () =>
    signToken(separator, key, {
      rentalId: rental.id,
      action: 'unlock',
      nonce: randomNonce(),
      validUntil: now + 240,
    }),
  );
  const payloads = wire.map((w) => Buffer.from(JSON.stringify(w)));
  const accesses: Access[] = wire.map((w) => ({
    rentalId: BigInt(w.access.rentalId),
    deviceId: BigInt(w.access.deviceId),
    action: w.access.action,
    nonce: BigInt(w.access.nonce),
    validUntil: BigInt(w.access.validUntil),
  }));
  const digests = accesses.map((a) => accessDigest(separator, a));
  const digestHex = digests.map((d) => bytesToHex(d));
  const sigs = wire.map((w) => hexToBytes(w.signature));
  const sessionKey = sessionKeyPair();
  const sessionWire = accesses.map((a) =>
    signSessionToken(separator, sessionKey, {
      rentalId: a.rentalId,
      action: a.action,
      nonce: a.nonce,
      validUntil: Number(a.validUntil),
    }),
  );
  const sessionPayloads = sessionWire.map((w) => Buffer.from(JSON.stringify(w)));
  const sessionSigs = sessionWire.map((w) => hexToBytes('sessionSignature' in w ? w.sessionSignature : ''));
  const ctx: VerifyContext = {
    now,
    deviceId,
    kind: 'lock',
    separator,
    maxValiditySeconds: 300,
    rental: (id) => (id === rental.id ? rental : undefined),
    nonceUsed: () => false,
    sessionKey: (id) =>
      id === rental.id
        ? {
            rentalId: id,
            publicKey: sessionKey.publicKey,
            validUntil: now + 3600,
            grantDigest: digestHex[0] as string,
            grantedAt: now,
          }
        : undefined,
  };
  const curvesRecover = (digest: Uint8Array, sig: Uint8Array) => {
    const point = curves.Signature.fromCompact(sig.subarray(0, 64))
      .addRecoveryBit((sig[64] as number) - 27)
      .recoverPublicKey(digest);
    return addressOfPublicKey(point.toRawBytes(false));
  };

  // Correctness first: a benchmark of wrong answers is worthless.
  const guest = wallet.address.toLowerCase();
  for (let i = 0; i < Math.min(count, 20); i++) {
    const v = verifyAccess(payloads[i], ctx);
    if (!v.ok) throw new Error(`verifyAccess refused a valid token: ${v.reason} ${v.message}`);
    const a = accesses[i] as Access;
    if (TypedDataEncoder.hash(dom, ACCESS_TYPES, a) !== digestHex[i])
      throw new Error('ethers and the fast digest disagree');
    if (ethersRecover(digestHex[i] as string, wire[i]?.signature as string).toLowerCase() !== guest)
      throw new Error('ethers recovered another address');
    const r = recoverAddress(digests[i] as Uint8Array, sigs[i] as Uint8Array);
    if (!r.ok || r.address !== guest) throw new Error('noble recovery recovered another address');
    if (curvesRecover(digests[i] as Uint8Array, sigs[i] as Uint8Array) !== guest)
      throw new Error('@noble/curves recovered another address');
    const sv = verifyAccess(sessionPayloads[i], ctx);
    if (!sv.ok || sv.grant.scheme !== 'session')
      throw new Error('verifyAccess refused a valid session token');
    if (!verifyP256(sessionKey.publicKey, digests[i] as Uint8Array, sessionSigs[i] as Uint8Array))
      throw new Error('P-256 verify refused a valid session signature');
  }

  const m = measureInterleaved(
    {
      verifyAccess: {
        op: (i) => {
          const v = verifyAccess(payloads[i], ctx);
          if (!v.ok) throw new Error(`verifyAccess refused a valid token: ${v.reason}`);
          return v;
        },
        ms: 1000,
      },
      parse: {
        op: (i) => {
          const d = decodePayload(payloads[i]);
          return d.ok ? parseToken(d.value) : d;
        },
        ms: 200,
      },
      digest: { op: (i) => accessDigest(separator, accesses[i] as Access), ms: 200 },
      recovery: { op: (i) => recoverAddress(digests[i] as Uint8Array, sigs[i] as Uint8Array), ms: 1000 },
      typedDataHash: { op: (i) => TypedDataEncoder.hash(dom, ACCESS_TYPES, accesses[i] as Access), ms: 300 },
      ethersRecover: {
        op: (i) => ethersRecover(digestHex[i] as string, wire[i]?.signature as string),
        ms: 800,
      },
      verifyTypedData: {
        op: (i) => verifyTypedData(dom, ACCESS_TYPES, accesses[i] as Access, wire[i]?.signature as string),
        ms: 800,
      },
      sessionVerifyAccess: {
        op: (i) => {
          const v = verifyAccess(sessionPayloads[i], ctx);
          if (!v.ok) throw new Error(`verifyAccess refused a valid session token: ${v.reason}`);
          return v;
        },
        ms: 800,
      },
      p256Verify: {
        op: (i) => verifyP256(sessionKey.publicKey, digests[i] as Uint8Array, sessionSigs[i] as Uint8Array),
        ms: 500,
      },
      curvesRecovery: { op: (i) => curvesRecover(digests[i] as Uint8Array, sigs[i] as Uint8Array), ms: 1000 },
    },
    count,
  );
  const ours = { verifyAccess: m.verifyAccess, parse: m.parse, digest: m.digest, recovery: m.recovery };
  const ethers = {
    typedDataHash: m.typedDataHash,
    recoverAddress: m.ethersRecover,
    verifyTypedData: m.verifyTypedData,
    hashPlusRecover: { opsPerSecond: 0, microsPerOp: 0, iterations: 0 },
  };
  const hr = ethers.typedDataHash.microsPerOp + ethers.recoverAddress.microsPerOp;
  ethers.hashPlusRecover = { opsPerSecond: Math.round(1e6 / hr), microsPerOp: round(hr, 2), iterations: 0 };
  const split = {
    parse: ours.parse.microsPerOp,
    digest: ours.digest.microsPerOp,
    recovery: ours.recovery.microsPerOp,
    rest: round(
      Math.max(
        0,
        ours.verifyAccess.microsPerOp -
          ours.parse.microsPerOp -
          ours.digest.microsPerOp -
          ours.recovery.microsPerOp,
      ),
      2,
    ),
  };
  return {
    tokens: count,
    ours,
    splitMicros: split,
    session: { verifyAccess: m.sessionVerifyAccess, p256Verify: m.p256Verify },
    secp256k1: {
      nobleSecp256k1: m.recovery,
      nobleCurves: m.curvesRecovery,
      curvesSpeedup: round(m.recovery.microsPerOp / m.curvesRecovery.microsPerOp, 2),
      curvesVersion: CURVES_VERSION,
    },
    ethers,
    ratios: {
      digest: round(ethers.typedDataHash.microsPerOp / ours.digest.microsPerOp, 1),
      recovery: round(ethers.recoverAddress.microsPerOp / ours.recovery.microsPerOp, 2),
      full: round(ethers.verifyTypedData.microsPerOp / ours.verifyAccess.microsPerOp, 2),
    },
  };
}
