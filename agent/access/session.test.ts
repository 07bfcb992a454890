// Session grants and session tokens through the real gate over a real SQLite store: every "Bad tokens"
// item of the reliability list, for session tokens, and the per-rental flood budget.

import { afterEach, describe, expect, it, vi } from 'vitest';
import { domainSeparator, recoverAddress } from '../../contracts/eip712.js';
import { type Access, domain } from '../../contracts/typedData.js';
import { createLogger } from '../log.js';
import { Store } from '../store/store.js';
import { tempDir } from '../store/test/fixtures.js';
import { type TimeSource, TrustedClock } from './clock.js';
import { AccessGate, type AccessGateDeps, type AccessPath, type Answer } from './gate.js';
import {
  accessFor,
  CHAIN_ID,
  LOCK,
  NOW,
  OTHER_KEY,
  rentalOf,
  SEPARATOR,
  SOCKET,
  signNoble,
  wire,
} from './test/fixtures.js';
import {
  flipS,
  grantWire,
  newSessionKey,
  type SessionKey,
  sessionFor,
  sessionTokenWire,
  signGrant,
  toDer,
} from './test/session.js';

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const fn of cleanups.splice(0).reverse()) fn();
});

const RENTAL = (LOCK << 64n) | 1n;
const END = BigInt(NOW + 3600);

function rig(opts: { dbPath?: string; deps?: Partial<AccessGateDeps> } = {}) {
  let dbPath = opts.dbPath;
  if (!dbPath) {
    const t = tempDir('latchkey-session-gate-');
    cleanups.push(t.cleanup);
    dbPath = t.dbPath;
  }
  const store = new Store(dbPath);
  store.start();
  cleanups.push(() => store.stop());
  store.putRental(rentalOf(LOCK));
  store.putRental(rentalOf(SOCKET));
  const time = { wall: NOW * 1000, mono: 0 };
  const source: TimeSource = { wallMs: () => time.wall, monoMs: () => time.mono };
  const gate = new AccessGate({
    store,
    clock: new TrustedClock(NOW - 86_400, source),
    separator: SEPARATOR,
    log: createLogger('latchkey', { json: true, level: 'error', write: () => {} }),
    devices: new Map([
      [LOCK, { kind: 'lock' as const }],
      [SOCKET, { kind: 'socket' as const }],
    ]),
    maxValiditySeconds: 300,
    nowMs: () => time.mono,
    ...opts.deps,
  });
  cleanups.push(() => gate.stop());
  return { gate, store, time, dbPath };
}

type Rig = ReturnType<typeof rig>;

function reasonOf(v: Answer): string {
  return v.ok ? 'granted' : v.reason;
}

async function grant(
  r: Rig,
  key: SessionKey,
  opts: { signer?: string; validUntil?: bigint; rentalId?: bigint } = {},
) {
  const s = sessionFor(opts.rentalId ?? RENTAL, key, opts.validUntil ?? END);
  const sig = await signGrant(s, opts.signer);
  return r.gate.submit(s.deviceId, JSON.stringify(grantWire(s, sig)), 'guest-1');
}

function send(r: Rig, a: Access, sig: string, source = 'guest-1', path: AccessPath = 'mqtt'): Answer {
  return r.gate.check(a.deviceId, JSON.stringify(sessionTokenWire(a, sig)), source, path);
}

describe('session grant', () => {
  it('installs the key once; session tokens then unlock, lock and unlock with no wallet signature', async () => {
    const r = rig();
    const key = newSessionKey();
    const g = await grant(r, key);
    expect(g.ok && 'session' in g && g.session.validUntil).toBe(Number(END));
    expect(r.store.getSessionKey(RENTAL)?.publicKey).toBe(key.publicKey);
    for (const action of ['unlock', 'lock', 'unlock'] as const) {
      const a = accessFor(LOCK, { action });
      const v = send(r, a, key.sign(a));
      expect(v.ok && 'grant' in v && v.grant.scheme).toBe('session');
    }
    // Sent again (a reload): accepted, nothing re-installed, no recovery spent.
    const recover = vi.fn(recoverAddress);
    const again = rig({ dbPath: r.dbPath, deps: { recover } });
    const s = sessionFor(RENTAL, key, END);
    const repeated = await again.gate.submit(LOCK, grantWire(s, await signGrant(s)), 'guest-1');
    expect(repeated.ok && 'session' in repeated && repeated.session.current).toBe(true);
    expect(recover).not.toHaveBeenCalled();
  });

  it('survives a restart between the grant and the unlock', async () => {
    const first = rig();
    const key = newSessionKey();
    expect((await grant(first, key)).ok).toBe(true);
    first.gate.stop();
    first.store.stop();
    const second = rig({ dbPath: first.dbPath });
    const a = accessFor(LOCK);
    expect(reasonOf(send(second, a, key.sign(a)))).toBe('granted');
  });

  it('is refused when signed by someone other than the renter, and then no key works', async () => {
    const r = rig();
    const key = newSessionKey();
    expect(reasonOf(await grant(r, key, { signer: OTHER_KEY }))).toBe('not-renter');
    const a = accessFor(LOCK);
    expect(reasonOf(send(r, a, key.sign(a)))).toBe('no-session');
  });

  it('is refused past the rental end, for an ended rental, another device, or a point off the curve', async () => {
    const r = rig();
    const key = newSessionKey();
    expect(reasonOf(await grant(r, key, { validUntil: END + 1n }))).toBe('validity-too-long');
    expect(reasonOf(await grant(r, key, { validUntil: BigInt(NOW) }))).toBe('expired');
    expect(reasonOf(await grant(r, key, { rentalId: (LOCK << 64n) | 9n }))).toBe('unknown-rental');
    const s = sessionFor(RENTAL, key, END);
    const sig = await signGrant(s);
    expect(reasonOf(await r.gate.submit(SOCKET, grantWire(s, sig), 'guest-1'))).toBe('wrong-device');
    const offCurve = { ...s, sessionKey: `0x04${'01'.repeat(64)}` as const };
    expect(reasonOf(await r.gate.submit(LOCK, grantWire(offCurve, await signGrant(offCurve)), 'g'))).toBe(
      'malformed',
    );
    r.time.wall = Number(END) * 1000;
    expect(reasonOf(await grant(r, key))).toBe('expired');
  });

  it('a new grant replaces the key; the old key and the old grant are refused', async () => {
    const r = rig();
    const oldKey = newSessionKey();
    const oldSession = sessionFor(RENTAL, oldKey, END);
    const oldWire = grantWire(oldSession, await signGrant(oldSession));
    expect((await r.gate.submit(LOCK, oldWire, 'g')).ok).toBe(true);
    const newKey = newSessionKey();
    expect((await grant(r, newKey)).ok).toBe(true);

    const a = accessFor(LOCK);
    expect(reasonOf(send(r, a, oldKey.sign(a)))).toBe('bad-signature');
    expect(reasonOf(send(r, a, newKey.sign(a)))).toBe('granted');
    // Replaying the first grant cannot bring the old key back.
    expect(reasonOf(await r.gate.submit(LOCK, oldWire, 'g'))).toBe('nonce-used');
    expect(r.store.getSessionKey(RENTAL)?.publicKey).toBe(newKey.publicKey);
  });
});

describe('session tokens refuse (RELIABILITY "Bad tokens")', () => {
  async function granted() {
    const r = rig();
    const key = newSessionKey();
    expect((await grant(r, key)).ok).toBe(true);
    return { r, key };
  }

  it('a replay, and its re-encodings: high-s twin (nonce-used), DER and 65-byte forms (malformed)', async () => {
    const { r, key } = await granted();
    const a = accessFor(LOCK);
    const sig = key.sign(a);
    expect(reasonOf(send(r, a, sig))).toBe('granted');
    expect(reasonOf(send(r, a, sig))).toBe('nonce-used');
    expect(reasonOf(send(r, a, flipS(sig)))).toBe('nonce-used');
    expect(reasonOf(send(r, a, toDer(sig)))).toBe('malformed');
    expect(reasonOf(send(r, a, `${sig}1b`))).toBe('malformed');
    // A wallet-form token with the session signature padded to 65 bytes is a wallet token: not the renter.
    expect(reasonOf(r.gate.check(LOCK, wire(a, `${sig}1b`), 'x'))).not.toBe('granted');
  });

  it('a fresh token whose s is in the upper half verifies (WebCrypto emits both), once', async () => {
    const { r, key } = await granted();
    const a = accessFor(LOCK);
    expect(reasonOf(send(r, a, flipS(key.sign(a))))).toBe('granted');
    expect(reasonOf(send(r, a, key.sign(a)))).toBe('nonce-used');
  });

  it('another rental, another device, a wrong action, expired, too long, another domain', async () => {
    const { r, key } = await granted();
    const other = accessFor(SOCKET);
    expect(reasonOf(send(r, other, key.sign(other)))).toBe('no-session'); // the socket's rental has no key
    const toSocket = accessFor(LOCK);
    expect(reasonOf(r.gate.check(SOCKET, sessionTokenWire(toSocket, key.sign(toSocket)), 'x'))).toBe(
      'wrong-device',
    );
    const on = accessFor(LOCK, { action: 'on' });
    expect(reasonOf(send(r, on, key.sign(on)))).toBe('action-not-allowed');
    const expired = accessFor(LOCK, { validUntil: BigInt(NOW - 1) });
    expect(reasonOf(send(r, expired, key.sign(expired)))).toBe('expired');
    const long = accessFor(LOCK, { validUntil: BigInt(NOW + 301) });
    expect(reasonOf(send(r, long, key.sign(long)))).toBe('validity-too-long');
    const a = accessFor(LOCK);
    const foreign = key.sign(a, domainSeparator(domain(CHAIN_ID + 1n, `0x${'11'.repeat(20)}`)));
    expect(reasonOf(send(r, a, foreign))).toBe('bad-signature');
  });

  it('a key granted for one rental signing for the same device with a wrong rental id', async () => {
    const { r, key } = await granted();
    r.store.putRental(rentalOf(LOCK, { id: RENTAL + 1n, start: BigInt(NOW - 10), end: END }));
    const a = accessFor(LOCK, { rentalId: RENTAL + 1n });
    expect(reasonOf(send(r, a, key.sign(a)))).toBe('no-session');
  });

  it('after the rental (ended, settled) and after the session key expires', async () => {
    const { r, key } = await granted();
    r.store.setRentalStatus(RENTAL, 'settled');
    const a = accessFor(LOCK);
    expect(reasonOf(send(r, a, key.sign(a)))).toBe('rental-not-open');

    const short = rig();
    const k2 = newSessionKey();
    expect((await grant(short, k2, { validUntil: BigInt(NOW + 60) })).ok).toBe(true);
    short.time.wall = (NOW + 60) * 1000;
    const b = accessFor(LOCK, { validUntil: BigInt(NOW + 120) });
    expect(reasonOf(send(short, b, k2.sign(b)))).toBe('no-session');
    short.time.wall = Number(END) * 1000;
    expect(reasonOf(send(short, b, k2.sign(b)))).toBe('expired');
  });
});

describe('session flood budget', () => {
  it('1,000 forged session tokens a second against one rental never refuse its guest', async () => {
    const r = rig();
    const key = newSessionKey();
    const forger = newSessionKey();
    expect((await grant(r, key)).ok).toBe(true);
    const outcomes: Record<string, number> = {};
    let forged = 0;
    // 5 simulated seconds: every ms a forged token from a fresh source, every 250 ms one of the guest's
    // (within its own source's allowance: burst 20, then 2/s).
    for (let ms = 0; ms < 5_000; ms++) {
      r.time.mono = ms;
      const f = accessFor(LOCK);
      const v = send(r, f, forger.sign(f), `attacker-${ms}`);
      if (reasonOf(v) === 'bad-signature') forged++;
      if (ms % 250 === 0) {
        const a = accessFor(LOCK, { action: ms % 500 === 0 ? 'unlock' : 'lock' });
        const o = reasonOf(send(r, a, key.sign(a), 'guest-1'));
        outcomes[o] = (outcomes[o] ?? 0) + 1;
      }
    }
    expect(outcomes).toEqual({ granted: 20 });
    expect(forged).toBe(5_000); // each one really checked, and refused
  });

  it('a flood on MQTT past the budget does not reach LAN HTTP, nor the guest on a wallet-flooded rental', async () => {
    const r = rig({ deps: { sessionCheckLimit: { burst: 50, perSecond: 50, globalPerSecond: 100 } } });
    const key = newSessionKey();
    const forger = newSessionKey();
    expect((await grant(r, key)).ok).toBe(true);
    for (let i = 0; i < 200; i++) {
      const f = accessFor(LOCK);
      send(r, f, forger.sign(f), `attacker-${i}`, 'mqtt');
      // and bad wallet tokens, which put the rental's secp256k1 budget on its tight penalty
      const w = accessFor(LOCK);
      r.gate.check(LOCK, wire(w, signNoble(w, SEPARATOR, OTHER_KEY)), `wallet-attacker-${i}`, 'mqtt');
    }
    const onMqtt = accessFor(LOCK);
    expect(reasonOf(send(r, onMqtt, key.sign(onMqtt), 'guest-1', 'mqtt'))).toBe('rate-limited');
    const onHttp = accessFor(LOCK);
    expect(reasonOf(send(r, onHttp, key.sign(onHttp), 'http:10.0.0.5', 'http'))).toBe('granted');
    const byWallet = accessFor(LOCK);
    expect(reasonOf(r.gate.check(LOCK, wire(byWallet, signNoble(byWallet)), 'http:10.0.0.5', 'http'))).toBe(
      'rate-limited',
    );
  });

  it("a guest's grant on a rental flooded with bad wallet tokens, and over LAN HTTP under a grant flood on MQTT", async () => {
    const r = rig();
    // 1,000 bad wallet tokens in one second put the rental's token budget on its tight penalty...
    for (let ms = 0; ms < 1_000; ms++) {
      r.time.mono = ms;
      const w = accessFor(LOCK);
      r.gate.check(LOCK, wire(w, signNoble(w, SEPARATOR, OTHER_KEY)), `wallet-attacker-${ms}`, 'mqtt');
    }
    const byWallet = accessFor(LOCK);
    expect(reasonOf(r.gate.check(LOCK, wire(byWallet, signNoble(byWallet)), 'guest-1', 'mqtt'))).toBe(
      'rate-limited',
    );
    // ...and leave the guest's one wallet signature, its grant, its own budget.
    const first = newSessionKey();
    expect(reasonOf(await grant(r, first))).toBe('granted');

    // Forged grants on MQTT (signed by someone else) exhaust that path's grant budget;
    // the guest's grant over LAN HTTP is still checked, and its key works on both paths.
    const forgedGrant = sessionFor(RENTAL, newSessionKey(), END);
    const forgedSig = await signGrant(forgedGrant, OTHER_KEY);
    for (let ms = 1_000; ms < 2_000; ms++) {
      r.time.mono = ms;
      await r.gate.submit(LOCK, grantWire(forgedGrant, forgedSig, `a-${ms}`), `grant-attacker-${ms}`, 'mqtt');
    }
    const second = newSessionKey();
    const s = sessionFor(RENTAL, second, END);
    const sig = await signGrant(s);
    expect(reasonOf(await r.gate.submit(LOCK, grantWire(s, sig), 'mqtt:guest-2', 'mqtt'))).toBe(
      'rate-limited',
    );
    expect(reasonOf(await r.gate.submit(LOCK, grantWire(s, sig), 'http:10.0.0.5', 'http'))).toBe('granted');
    for (const path of ['mqtt', 'http'] as const) {
      const a = accessFor(LOCK);
      expect(reasonOf(send(r, a, second.sign(a), `guest-${path}`, path))).toBe('granted');
    }
  });
});
