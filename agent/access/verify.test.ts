import { describe, expect, it } from 'vitest';
import { accessDigest, bytesToHex, domainSeparator } from '../../contracts/eip712.js';
import { type Access, domain } from '../../contracts/typedData.js';
import {
  accessFor,
  CONTRACT,
  compact,
  DOMAIN,
  guest,
  highS,
  LOCK,
  memoryContext,
  NOW,
  OTHER_KEY,
  rentalOf,
  SEPARATOR,
  SOCKET,
  signEthers,
  signEthSigUtil,
  signNoble,
  vZeroOne,
  wire,
} from './test/fixtures.js';
import { type RejectReason, type Verdict, verifyAccess } from './verify.js';

function expectRejected(v: Verdict, reason: RejectReason): string {
  if (v.ok) throw new Error(`expected ${reason}, got a grant`);
  expect(v.reason, v.message).toBe(reason);
  expect(v.message.length).toBeGreaterThan(5);
  return v.message;
}

describe('verifyAccess grants', () => {
  it('accepts tokens signed by ethers, eth-sig-util (eth_signTypedData_v4) and the noble signer', async () => {
    const ctx = memoryContext(LOCK, [rentalOf(LOCK)]);
    for (const sign of [signEthers, signEthSigUtil, signNoble]) {
      const a = accessFor(LOCK);
      const v = verifyAccess(wire(a, await sign(a), 'req-1'), ctx);
      expect(v.ok, JSON.stringify(v.ok ? '' : v)).toBe(true);
      if (!v.ok) continue;
      expect(v.grant.action).toBe('unlock');
      expect(v.grant.rental.id).toBe(a.rentalId);
      expect(v.grant.validUntil).toBe(NOW + 120);
      expect(v.grant.requestId).toBe('req-1');
      expect(v.grant.digest).toBe(bytesToHex(accessDigest(SEPARATOR, a)));
    }
  });

  it('accepts JSON text and bytes as well as objects; upper-case hex in the signature is the same signature', async () => {
    const ctx = memoryContext(SOCKET, [rentalOf(SOCKET)]);
    const a = accessFor(SOCKET, { action: 'checkout' });
    const sig = await signEthers(a);
    const json = JSON.stringify(wire(a, `0x${sig.slice(2).toUpperCase()}`));
    expect(verifyAccess(json, ctx).ok).toBe(true);
    expect(verifyAccess(Buffer.from(json), ctx).ok).toBe(true);
    expect(verifyAccess(new TextEncoder().encode(json), ctx).ok).toBe(true);
  });

  it('grants at the first second of the rental and with validUntil exactly now or exactly the maximum ahead', () => {
    const ctx = memoryContext(LOCK, [rentalOf(LOCK, { start: BigInt(NOW) })]);
    for (const validUntil of [NOW, NOW + 300]) {
      const a = accessFor(LOCK, { validUntil: BigInt(validUntil) });
      expect(verifyAccess(wire(a, signNoble(a)), ctx).ok).toBe(true);
    }
  });
});

describe('verifyAccess refuses (RELIABILITY "Bad tokens")', () => {
  it('1: a token whose digest is already used, whatever its signature encoding', () => {
    const ctx = memoryContext(LOCK, [rentalOf(LOCK)]);
    const a = accessFor(LOCK);
    const sig = signNoble(a);
    ctx.used.add(bytesToHex(accessDigest(SEPARATOR, a)));
    expectRejected(verifyAccess(wire(a, sig), ctx), 'nonce-used');
    expectRejected(verifyAccess(wire(a, highS(sig)), ctx), 'nonce-used');
  });

  it('2: the same signature re-encoded high-s, 64-byte EIP-2098, padded, or with v = 0/1', async () => {
    const ctx = memoryContext(LOCK, [rentalOf(LOCK)]);
    for (let i = 0; i < 4; i++) {
      // Both recovery parities, so the compact form sets the high bit at least once.
      const a = accessFor(LOCK);
      const sig = await signEthers(a);
      expect(verifyAccess(wire(a, sig), { ...ctx, nonceUsed: () => false }).ok).toBe(true);
      expect(expectRejected(verifyAccess(wire(a, highS(sig)), ctx), 'bad-signature')).toMatch(/upper half/);
      expectRejected(verifyAccess(wire(a, compact(sig)), ctx), 'malformed');
      expectRejected(verifyAccess(wire(a, `${sig}00`), ctx), 'malformed');
      expectRejected(verifyAccess(wire(a, `0x00${sig.slice(2)}`), ctx), 'malformed');
      expectRejected(verifyAccess(wire(a, `${sig} `), ctx), 'malformed');
      expectRejected(verifyAccess(wire(a, sig.slice(2)), ctx), 'malformed');
      expect(expectRejected(verifyAccess(wire(a, vZeroOne(sig)), ctx), 'bad-signature')).toMatch(/27 or 28/);
    }
  });

  it('3: a token signed for another chainId, verifyingContract, version or name', async () => {
    const ctx = memoryContext(LOCK, [rentalOf(LOCK)]);
    const others = [
      domain(1n, CONTRACT),
      domain(DOMAIN.chainId, '0x0000000000000000000000000000000000000001'),
      { ...DOMAIN, version: '2' },
      { ...DOMAIN, name: 'Latchkey2' },
    ];
    for (const d of others) {
      const a = accessFor(LOCK);
      expectRejected(verifyAccess(wire(a, await signEthers(a, d)), ctx), 'not-renter');
      expectRejected(verifyAccess(wire(a, signEthSigUtil(a, d)), ctx), 'not-renter');
      expectRejected(verifyAccess(wire(a, signNoble(a, domainSeparator(d))), ctx), 'not-renter');
    }
  });

  it('4: a token for device A sent to device B, or naming a rental of another device', () => {
    const ctxB = memoryContext(SOCKET, [rentalOf(SOCKET), rentalOf(LOCK)]);
    const forA = accessFor(LOCK);
    expect(expectRejected(verifyAccess(wire(forA, signNoble(forA)), ctxB), 'wrong-device')).toMatch(
      /device 1/,
    );
    // Device field says B, but the rental id is one of A's.
    const mixed = accessFor(SOCKET, { rentalId: (LOCK << 64n) | 1n });
    expectRejected(verifyAccess(wire(mixed, signNoble(mixed)), ctxB), 'wrong-device');
    // Both caught from the ids alone, before the rental is looked up.
    expect(ctxB.calls.rental).toBe(0);
    // The cache records the rental for another device than its id says (must never happen, still refused).
    const odd = memoryContext(SOCKET, [rentalOf(SOCKET, { deviceId: LOCK })]);
    const a = accessFor(SOCKET);
    expectRejected(verifyAccess(wire(a, signNoble(a)), odd), 'wrong-device');
  });

  it('an action the device kind does not have', () => {
    const lock = memoryContext(LOCK, [rentalOf(LOCK)]);
    const socket = memoryContext(SOCKET, [rentalOf(SOCKET)]);
    for (const action of ['on', 'off'] as const) {
      const a = accessFor(LOCK, { action });
      expectRejected(verifyAccess(wire(a, signNoble(a)), lock), 'action-not-allowed');
    }
    for (const action of ['unlock', 'lock'] as const) {
      const a = accessFor(SOCKET, { action });
      expectRejected(verifyAccess(wire(a, signNoble(a)), socket), 'action-not-allowed');
    }
  });

  it('5: expired, valid for too long ahead, or a gateway clock that is not trusted', () => {
    const ctx = memoryContext(LOCK, [rentalOf(LOCK)]);
    const expired = accessFor(LOCK, { validUntil: BigInt(NOW - 1) });
    expectRejected(verifyAccess(wire(expired, signNoble(expired)), ctx), 'expired');
    const far = accessFor(LOCK, { validUntil: BigInt(NOW + 301) });
    expectRejected(verifyAccess(wire(far, signNoble(far)), ctx), 'validity-too-long');
    const good = accessFor(LOCK);
    expectRejected(verifyAccess(wire(good, signNoble(good)), { ...ctx, now: undefined }), 'clock-untrusted');
    // A Pi booted in 1970 that somebody fed a "trusted" 0 still sees every token as too far ahead.
    expectRejected(verifyAccess(wire(good, signNoble(good)), { ...ctx, now: 0 }), 'validity-too-long');
  });

  it('6: signer not the renter; rental unknown, settled, cancelled, revoked, not started or ended', () => {
    const a = accessFor(LOCK);
    const sig = signNoble(a);
    const base = memoryContext(LOCK, [rentalOf(LOCK)]);
    expect(
      expectRejected(verifyAccess(wire(a, signNoble(a, SEPARATOR, OTHER_KEY)), base), 'not-renter'),
    ).toContain(guest.address.toLowerCase());
    expectRejected(verifyAccess(wire(a, sig), memoryContext(LOCK, [])), 'unknown-rental');
    for (const status of ['settled', 'cancelled', 'revoked'] as const)
      expectRejected(
        verifyAccess(wire(a, sig), memoryContext(LOCK, [rentalOf(LOCK, { status })])),
        'rental-not-open',
      );
    const later = rentalOf(LOCK, { start: BigInt(NOW + 1), end: BigInt(NOW + 100) });
    expectRejected(verifyAccess(wire(a, sig), memoryContext(LOCK, [later])), 'not-started');
    // The end is exclusive.
    const over = rentalOf(LOCK, { start: BigInt(NOW - 100), end: BigInt(NOW) });
    expectRejected(verifyAccess(wire(a, sig), memoryContext(LOCK, [over])), 'ended');
  });

  it('runs the cheap checks before any lookup, digest or recovery', () => {
    const a = accessFor(LOCK);
    const sig = signNoble(a);
    const ctx = memoryContext(LOCK, []);
    expectRejected(verifyAccess('{"access":', ctx), 'malformed');
    expectRejected(verifyAccess(wire(accessFor(SOCKET), sig), ctx), 'wrong-device');
    expectRejected(verifyAccess(wire(a, sig), { ...ctx, now: undefined }), 'clock-untrusted');
    expect(ctx.calls).toEqual({ rental: 0, nonceUsed: 0 });
    // Unknown rental: looked up, but no digest was computed to ask the nonce store.
    expectRejected(verifyAccess(wire(a, sig), ctx), 'unknown-rental');
    expect(ctx.calls).toEqual({ rental: 1, nonceUsed: 0 });
    // A used token is refused before the (expensive) recovery: a bad signature does not change the answer.
    const used = memoryContext(LOCK, [rentalOf(LOCK)]);
    used.used.add(bytesToHex(accessDigest(SEPARATOR, a)));
    expectRejected(verifyAccess(wire(a, `0x${'00'.repeat(65)}`), used), 'nonce-used');
  });

  it('a well-formed signature that is not a curve point is refused, not thrown', () => {
    const ctx = memoryContext(LOCK, [rentalOf(LOCK)]);
    const a = accessFor(LOCK);
    expectRejected(verifyAccess(wire(a, `0x${'00'.repeat(64)}1b`), ctx), 'bad-signature');
    expectRejected(verifyAccess(wire(a, `0x${'ff'.repeat(64)}1c`), ctx), 'bad-signature');
    // r = 5 is not the x of any point on secp256k1.
    expectRejected(
      verifyAccess(wire(a, `0x${'00'.repeat(31)}05${'00'.repeat(31)}011b`), ctx),
      'bad-signature',
    );
  });

  it('returns the request id with refusals so replies can be routed', () => {
    const ctx = memoryContext(LOCK, []);
    const a: Access = accessFor(LOCK);
    const v = verifyAccess(wire(a, signNoble(a), 'abc-123'), ctx);
    expect(v).toMatchObject({ ok: false, reason: 'unknown-rental', requestId: 'abc-123', claimed: a });
    const m = verifyAccess({ id: 'abc-123', access: {}, signature: '0x' }, ctx);
    expect(m).toMatchObject({ ok: false, reason: 'malformed', requestId: 'abc-123' });
  });
});
