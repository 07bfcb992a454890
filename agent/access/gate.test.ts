import { execFileSync } from 'node:child_process';
import { chmodSync, closeSync, openSync } from 'node:fs';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { accessDigest, bytesToHex, recoverAddress } from '../../contracts/eip712.js';
import type { Access } from '../../contracts/typedData.js';
import { isError } from '../errors.js';
import { createLogger } from '../log.js';
import { Metrics } from '../metrics.js';
import { Store } from '../store/store.js';
import { tempDir } from '../store/test/fixtures.js';
import { DEFAULT_AUDIT_BATCH } from './auditBatch.js';
import { type TimeSource, TrustedClock } from './clock.js';
import { AccessGate, type AccessGateDeps, type LockoutAlarm, TokenUsed } from './gate.js';
import type { RateLimitOptions } from './ratelimit.js';
import {
  accessFor,
  guest,
  highS,
  LOCK,
  NOW,
  OTHER_KEY,
  rentalOf,
  SEPARATOR,
  SOCKET,
  signEthers,
  signEthSigUtil,
  signNoble,
  wire,
} from './test/fixtures.js';
import type { Verdict } from './verify.js';

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const fn of cleanups.splice(0).reverse()) fn();
});

interface Rig {
  gate: AccessGate;
  store: Store;
  dbPath: string;
  time: { wall: number; mono: number };
  logs: string[];
  alarms: LockoutAlarm[];
}

function openStore(dbPath: string, StoreClass: typeof Store = Store): Store {
  const store = new StoreClass(dbPath);
  store.start();
  cleanups.push(() => store.stop());
  return store;
}

/** A gate over a real SQLite store in a temp dir, with hand-driven clocks. */
function rig(
  opts: {
    dbPath?: string;
    store?: Store;
    rateLimit?: Partial<RateLimitOptions>;
    seed?: boolean;
    deps?: Partial<AccessGateDeps>;
  } = {},
): Rig {
  let dbPath = opts.dbPath;
  if (!dbPath) {
    const t = tempDir('latchkey-gate-');
    cleanups.push(t.cleanup);
    dbPath = t.dbPath;
  }
  const store = opts.store ?? openStore(dbPath);
  if (opts.seed !== false) {
    store.putRental(rentalOf(LOCK));
    store.putRental(rentalOf(SOCKET));
  }
  const time = { wall: NOW * 1000, mono: 0 };
  const source: TimeSource = { wallMs: () => time.wall, monoMs: () => time.mono };
  const logs: string[] = [];
  const gate = new AccessGate({
    store,
    clock: new TrustedClock(NOW - 86_400, source),
    separator: SEPARATOR,
    log: createLogger('latchkey', { json: true, level: 'debug', write: (l) => logs.push(l) }),
    devices: new Map([
      [LOCK, { kind: 'lock' as const }],
      [SOCKET, { kind: 'socket' as const }],
    ]),
    maxValiditySeconds: 300,
    ...(opts.rateLimit ? { rateLimit: opts.rateLimit } : {}),
    nowMs: () => time.mono,
    ...opts.deps,
  });
  const alarms: LockoutAlarm[] = [];
  gate.on('lockout', (a) => alarms.push(a));
  return { gate, store, dbPath, time, logs, alarms };
}

function token(a: Access, sig = signNoble(a)): string {
  return JSON.stringify(wire(a, sig));
}

function reasonOf(v: Verdict): string {
  return v.ok ? 'granted' : v.reason;
}

/** The real recovery, counted. */
function countedRecover() {
  return vi.fn(recoverAddress);
}

function tally(reasons: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of reasons) out[r] = (out[r] ?? 0) + 1;
  return out;
}

const isRoot = process.getuid?.() === 0;
/** root ignores permission bits: as root a read-only store needs chattr +i, which not every filesystem has. */
const canMakeReadOnly =
  !isRoot ||
  (() => {
    const t = tempDir('latchkey-probe-');
    try {
      closeSync(openSync(t.dbPath, 'w'));
      execFileSync('chattr', ['+i', t.dbPath], { stdio: 'ignore' });
      execFileSync('chattr', ['-i', t.dbPath], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    } finally {
      t.cleanup();
    }
  })();

/** Repeats a store write until it fails with STORE_FAILED (the store is full for writes of its size). */
function fillUp(write: () => unknown): void {
  for (let i = 0; i < 100_000; i++) {
    try {
      write();
    } catch (e) {
      expect(isError(e, 'STORE_FAILED'), String(e)).toBe(true);
      return;
    }
  }
  throw new Error('the store never filled up');
}

/** What `fn` throws (undefined if it returns). */
function thrownBy(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  return undefined;
}

describe('AccessGate', () => {
  it('grants a valid token once, records its digest and audits the grant', async () => {
    const { gate, store } = rig();
    const a = accessFor(LOCK);
    const v = gate.check(LOCK, Buffer.from(token(a, await signEthers(a))), 'client-a');
    expect(reasonOf(v)).toBe('granted');
    expect(store.nonceUsed(bytesToHex(accessDigest(SEPARATOR, a)))).toBe(true);
    expect(store.auditTail(1)[0]).toMatchObject({
      deviceId: LOCK,
      rentalId: a.rentalId,
      action: 'unlock',
      actor: guest.address.toLowerCase(),
      outcome: 'ok',
      at: NOW,
    });
    // A MetaMask-style (eth-sig-util v4) signature, as a string payload on the socket.
    const b = accessFor(SOCKET);
    expect(reasonOf(gate.check(SOCKET, token(b, signEthSigUtil(b)), 'client-a'))).toBe('granted');
  });

  it('1: a replayed token is refused and audited, also after a restart and re-encoded high-s', () => {
    const r = rig();
    const a = accessFor(LOCK);
    const sig = signNoble(a);
    expect(reasonOf(r.gate.check(LOCK, token(a, sig), 'client-a'))).toBe('granted');
    expect(reasonOf(r.gate.check(LOCK, token(a, sig), 'client-b'))).toBe('nonce-used');
    r.gate.flush();
    expect(r.store.auditTail(1)[0]).toMatchObject({
      outcome: 'refused',
      actor: 'client-b',
      rentalId: a.rentalId,
      action: 'unlock',
    });
    expect(r.store.auditTail(1)[0]?.reason).toMatch(/^nonce-used: /);

    r.store.stop();
    const again = rig({ dbPath: r.dbPath });
    expect(reasonOf(again.gate.check(LOCK, token(a, sig), 'client-a'))).toBe('nonce-used');
    expect(reasonOf(again.gate.check(LOCK, token(a, highS(sig)), 'client-a'))).toBe('nonce-used');
  });

  it('two deliveries of one token racing through two processes sharing the store: only one wins', () => {
    const first = rig();
    // The second process read "unused" just before the first committed: its pre-check is stale.
    class StaleStore extends Store {
      override nonceUsed(): boolean {
        return false;
      }
    }
    const second = rig({ dbPath: first.dbPath, store: openStore(first.dbPath, StaleStore) });
    const a = accessFor(LOCK);
    const results = [first.gate.check(LOCK, token(a), 'mqtt'), second.gate.check(LOCK, token(a), 'http')];
    expect(results.map(reasonOf)).toEqual(['granted', 'nonce-used']);
    second.gate.flush();
    expect(first.store.auditTail(1)[0]).toMatchObject({
      actor: 'http',
      outcome: 'refused',
      rentalId: a.rentalId,
    });
    const grants = first.store.auditTail(10).filter((e) => e.outcome === 'ok');
    expect(grants).toHaveLength(1);
  });

  it("checkPending leaves the nonce to the caller's transaction: rolled back it is unspent, a second delivery loses", () => {
    const { gate, store } = rig();
    const a = accessFor(LOCK);
    const digest = bytesToHex(accessDigest(SEPARATOR, a));
    const first = gate.checkPending(LOCK, token(a), 'mqtt');
    const second = gate.checkPending(LOCK, token(a), 'http');
    if (!first.ok || !second.ok) throw new Error('a valid token was refused');
    expect(store.nonceUsed(digest)).toBe(false);
    // The caller's transaction fails after the record (e.g. the energise write): nothing is kept.
    expect(() =>
      store.tx(() => {
        first.grant.record();
        throw new Error('energise write failed');
      }),
    ).toThrow('energise write failed');
    expect(store.nonceUsed(digest)).toBe(false);
    const auditRows = store.auditTail(10).length;
    store.tx(() => first.grant.record());
    expect(store.nonceUsed(digest)).toBe(true);
    expect(store.auditTail(10)).toHaveLength(auditRows + 1);
    expect(store.auditTail(1)[0]).toMatchObject({ outcome: 'ok', action: 'unlock', rentalId: a.rentalId });
    let lost: unknown;
    try {
      store.tx(() => second.grant.record());
    } catch (e) {
      lost = e;
    }
    expect(lost).toBeInstanceOf(TokenUsed);
    expect(isError(lost, 'TOKEN_USED')).toBe(true);
    expect((lost as TokenUsed).verdict.reason).toBe('nonce-used');
    gate.flush();
    expect(store.auditTail(1)[0]).toMatchObject({ outcome: 'refused', actor: 'http', rentalId: a.rentalId });
    expect(store.auditTail(1)[0]?.reason).toMatch(/^nonce-used: /);
  });

  it('8: a burst of bad tokens locks the source out with one alarm; other sources are still served', () => {
    const r = rig();
    const junk = [
      '{"access":',
      'x'.repeat(10_000),
      token(accessFor(LOCK), signNoble(accessFor(LOCK), SEPARATOR, OTHER_KEY)),
      token(accessFor(LOCK, { rentalId: (LOCK << 64n) | 99n })),
    ];
    const reasons: string[] = [];
    for (let i = 0; i < 20; i++) reasons.push(reasonOf(r.gate.check(LOCK, junk[i % junk.length], 'mallory')));
    expect(reasons).not.toContain('rate-limited');
    expect(r.alarms).toEqual([
      { source: 'mallory', deviceId: LOCK, lockoutSeconds: 60, lastReason: 'unknown-rental' },
    ]);
    expect(r.logs.filter((l) => l.includes('locked out'))).toHaveLength(1);

    // Locked out: even a valid token from mallory is refused, unchecked and unaudited...
    r.gate.flush();
    const auditedBefore = r.store.auditTail(1000).length;
    for (let i = 0; i < 50; i++)
      expect(reasonOf(r.gate.check(LOCK, junk[0], 'mallory'))).toBe('rate-limited');
    const valid = accessFor(LOCK);
    expect(reasonOf(r.gate.check(LOCK, token(valid), 'mallory'))).toBe('rate-limited');
    r.gate.flush();
    expect(r.store.auditTail(1000).length).toBe(auditedBefore);
    expect(r.alarms).toHaveLength(1);
    // ...while the guest on another connection gets in.
    expect(reasonOf(r.gate.check(LOCK, token(accessFor(LOCK)), 'alice'))).toBe('granted');

    // After the lockout the same valid token passes, and the refusals it skipped are audited as one entry.
    r.time.mono += 60_001;
    expect(reasonOf(r.gate.check(LOCK, token(valid), 'mallory'))).toBe('granted');
    r.gate.flush();
    const mallory = r.store.auditTail(1000).filter((e) => e.actor === 'mallory');
    expect(mallory).toHaveLength(20 + 2);
    expect(mallory.some((e) => e.action === 'lockout')).toBe(true);
    expect(mallory.at(-1)?.reason).toMatch(/^rate-limited: 51 tokens refused unchecked/);
  });

  it('limits the volume per source with a token bucket', () => {
    const r = rig({ rateLimit: { burst: 3, perSecond: 1, maxRejections: 1000 } });
    const reasons = Array.from({ length: 5 }, () =>
      reasonOf(r.gate.check(LOCK, token(accessFor(LOCK)), 'busy')),
    );
    expect(reasons).toEqual(['granted', 'granted', 'granted', 'rate-limited', 'rate-limited']);
    expect(reasonOf(r.gate.check(LOCK, token(accessFor(LOCK)), 'calm'))).toBe('granted');
    r.time.mono += 1000;
    expect(reasonOf(r.gate.check(LOCK, token(accessFor(LOCK)), 'busy'))).toBe('granted');
    expect(reasonOf(r.gate.check(LOCK, token(accessFor(LOCK)), 'busy'))).toBe('rate-limited');
  });

  it('5: refuses on an untrusted clock without holding it against the sender', () => {
    const r = rig();
    r.time.wall = 0;
    // The phone retries every second, more often than maxRejections allows for bad tokens.
    for (let i = 0; i < 30; i++) {
      expect(reasonOf(r.gate.check(LOCK, token(accessFor(LOCK)), 'guest-phone'))).toBe('clock-untrusted');
      r.time.mono += 1000;
    }
    expect(r.alarms).toEqual([]);
    r.time.wall = NOW * 1000;
    r.time.mono += 10_000;
    expect(reasonOf(r.gate.check(LOCK, token(accessFor(LOCK)), 'guest-phone'))).toBe('granted');
  });

  it('refuses devices not on this gateway and oversized payloads, auditing both', () => {
    const r = rig();
    const a = accessFor(99n);
    expect(reasonOf(r.gate.check(99n, token(a), 'x'))).toBe('wrong-device');
    expect(reasonOf(r.gate.check(LOCK, Buffer.alloc(1 << 20, 0x20), 'x'))).toBe('malformed');
    r.gate.flush();
    expect(r.store.auditTail(2).map((e) => [e.deviceId, e.outcome, e.reason.split(':')[0]])).toEqual([
      [99n, 'refused', 'wrong-device'],
      [LOCK, 'refused', 'malformed'],
    ]);
  });

  it.skipIf(!canMakeReadOnly)(
    '24: fails closed on a read-only store (skipped when running as root where chattr +i does not work): a valid token throws STORE_FAILED and is not granted',
    () => {
      const r = rig();
      r.store.stop();
      // root ignores permission bits, so as root a read-only file needs the immutable attribute.
      if (isRoot) {
        execFileSync('chattr', ['+i', r.dbPath], { stdio: 'ignore' });
        cleanups.push(() => execFileSync('chattr', ['-i', r.dbPath]));
      } else {
        chmodSync(r.dbPath, 0o444);
      }
      const ro = rig({ dbPath: r.dbPath, store: openStore(r.dbPath), seed: false });
      const a = accessFor(LOCK);
      const thrown = thrownBy(() => ro.gate.check(LOCK, token(a), 'client-a'));
      expect(isError(thrown, 'STORE_FAILED'), String(thrown)).toBe(true);
      // A refusal is still answered (its audit write fails and is logged, not thrown).
      expect(reasonOf(ro.gate.check(LOCK, '{', 'client-a'))).toBe('malformed');
      ro.gate.flush();
      expect(ro.logs.some((l) => l.includes('could not audit'))).toBe(true);
    },
  );

  it('24: fails closed on a full store (max_page_count, no privileges needed): a valid token throws STORE_FAILED, is not granted and not spent', () => {
    const r = rig();
    r.store.stop();
    const full = new Store(r.dbPath, { maxPageCount: 1 });
    full.start();
    cleanups.push(() => full.stop());
    // The cap is the file's size now; fill what room its pages have left, large rows then small ones.
    fillUp(() =>
      full.audit({ at: 1, deviceId: LOCK, action: 'x', actor: 'a', outcome: 'ok', reason: 'x'.repeat(1000) }),
    );
    fillUp(() => full.audit({ at: 1, deviceId: LOCK, action: 'x', actor: 'a', outcome: 'ok', reason: 'r' }));
    let n = 0;
    fillUp(() => full.useNonce(`0x${(++n).toString(16).padStart(64, '0')}`, NOW + 60));

    const ro = rig({ dbPath: r.dbPath, store: full, seed: false });
    // A fixed nonce: its digest lands in the same place of the full nonce index on every run.
    const a = accessFor(LOCK, { nonce: 0xf011n });
    const thrown = thrownBy(() => ro.gate.check(LOCK, token(a), 'client-a'));
    expect(isError(thrown, 'STORE_FAILED'), String(thrown)).toBe(true);
    expect(String((thrown as Error).message)).toMatch(/SQLITE_FULL/);
    expect(full.nonceUsed(bytesToHex(accessDigest(SEPARATOR, a)))).toBe(false);
    expect(reasonOf(ro.gate.check(LOCK, '{', 'client-a'))).toBe('malformed');
    ro.gate.flush();
    expect(ro.logs.some((l) => l.includes('could not audit') && l.includes('SQLITE_FULL'))).toBe(true);

    // With room again the same token is granted: the failure spent nothing.
    full.stop();
    const roomy = rig({ dbPath: r.dbPath, seed: false });
    expect(reasonOf(roomy.gate.check(LOCK, token(a), 'client-a'))).toBe('granted');
  });

  it('36: a flood of wrong-signer tokens for one rental, each from its own source, is bounded per rental; other rentals are served', () => {
    const recover = countedRecover();
    const r = rig({ deps: { recover } });
    // A pool of signed bodies (failed tokens record no nonce, so each may come again, as in a flood).
    const pool = Array.from({ length: 64 }, () => {
      const a = accessFor(LOCK);
      return token(a, signNoble(a, SEPARATOR, OTHER_KEY));
    });
    const bad = () => pool[n % pool.length] as string;
    let n = 0;
    // 1000 tokens per second for 10 s, every one from a fresh source: the per-source limiter never bites.
    const reasons: string[] = [];
    for (let ms = 0; ms < 10_000; ms += 100) {
      r.time.mono = ms;
      for (let i = 0; i < 100; i++) reasons.push(reasonOf(r.gate.check(LOCK, bad(), `mqtt:reply/${n++}`)));
    }
    const seen = tally(reasons);
    // Burst 10, then 5/s until 20 failures within 10 s (t = 2 s), then one per 5 s: 20 + 2, not 1000s.
    expect(recover).toHaveBeenCalledTimes(seen['not-renter'] ?? 0);
    expect(seen['not-renter']).toBeGreaterThanOrEqual(20);
    expect(seen['not-renter']).toBeLessThanOrEqual(23);
    expect(seen['rate-limited']).toBe(10_000 - (seen['not-renter'] ?? 0));
    expect(r.logs.filter((l) => l.includes('tight signature-check budget'))).toHaveLength(1);
    // Rental-limited refusals are not held against their sources: no lockout alarm.
    expect(r.alarms).toEqual([]);

    // Mid-flood: the socket's rental is served; the flooded rental's own valid token is refused unchecked.
    const calls = recover.mock.calls.length;
    expect(reasonOf(r.gate.check(SOCKET, token(accessFor(SOCKET)), 'mqtt:reply/b'))).toBe('granted');
    const refused = r.gate.check(LOCK, token(accessFor(LOCK)), 'mqtt:reply/a');
    expect(reasonOf(refused)).toBe('rate-limited');
    expect(refused.ok ? '' : refused.message).toMatch(/badly signed tokens for rental/);
    expect(recover).toHaveBeenCalledTimes(calls + 1);

    // After the penalty window, the renter of the flooded rental gets in again.
    r.time.mono += 30_001;
    expect(reasonOf(r.gate.check(LOCK, token(accessFor(LOCK)), 'mqtt:reply/a2'))).toBe('granted');
  });

  it('caps signature recoveries across all rentals per second', () => {
    const recover = countedRecover();
    const r = rig({ deps: { recover, recoveryLimit: { globalPerSecond: 3 } } });
    const wrong = (d: bigint) => {
      const a = accessFor(d);
      return token(a, signNoble(a, SEPARATOR, OTHER_KEY));
    };
    expect([0, 1, 2].map((i) => reasonOf(r.gate.check(LOCK, wrong(LOCK), `s${i}`)))).toEqual([
      'not-renter',
      'not-renter',
      'not-renter',
    ]);
    const over = r.gate.check(SOCKET, token(accessFor(SOCKET)), 'guest');
    expect(reasonOf(over)).toBe('rate-limited');
    expect(over.ok ? '' : over.message).toMatch(/checking too many signatures/);
    expect(recover).toHaveBeenCalledTimes(3);
    // Cheap refusals do not touch the budget.
    expect(reasonOf(r.gate.check(LOCK, '{', 'x'))).toBe('malformed');
    r.time.mono += 1000;
    expect(reasonOf(r.gate.check(SOCKET, token(accessFor(SOCKET)), 'guest'))).toBe('granted');
  });

  it("a renter sending many valid tokens in a row does not drain its rental's signature budget", () => {
    const recover = countedRecover();
    const r = rig({ deps: { recover }, rateLimit: { burst: 1000 } });
    const reasons = Array.from({ length: 200 }, () =>
      reasonOf(r.gate.check(LOCK, token(accessFor(LOCK)), 'guest')),
    );
    expect(tally(reasons)).toEqual({ granted: 200 });
    expect(recover).toHaveBeenCalledTimes(200);
  });

  it('rejects a non-positive recovery limit', () => {
    expect(() => rig({ deps: { recoveryLimit: { perSecond: 0 } } })).toThrow(/recoveryLimit.perSecond/);
  });

  it('audits refusals in one transaction per flush (every second or 200 entries), grants at once', () => {
    vi.useFakeTimers();
    cleanups.push(() => vi.useRealTimers());
    // 300 refusals in one instant would be a flood for the audit budget: lift it, batching is tested here.
    const r = rig({ deps: { auditBatch: { budgetBurst: 1000 } } });
    const tx = vi.spyOn(r.store, 'tx');
    const refusalsOnDisk = () => r.store.auditTail(10_000).filter((e) => e.outcome === 'refused');

    for (let i = 0; i < 50; i++) expect(reasonOf(r.gate.check(LOCK, '{', `src-${i}`))).toBe('malformed');
    expect(refusalsOnDisk()).toHaveLength(0);
    expect(tx).not.toHaveBeenCalled();
    // A grant is audited with its nonce, at once.
    expect(reasonOf(r.gate.check(LOCK, token(accessFor(LOCK)), 'guest'))).toBe('granted');
    expect(r.store.auditTail(1)[0]?.outcome).toBe('ok');
    expect(tx).toHaveBeenCalledTimes(1);

    vi.advanceTimersByTime(1000);
    expect(tx).toHaveBeenCalledTimes(2);
    // One entry per refusal, each with its own detail.
    expect(refusalsOnDisk().map((e) => e.actor)).toEqual(Array.from({ length: 50 }, (_, i) => `src-${i}`));

    for (let i = 0; i < 250; i++) r.gate.check(LOCK, '{', `more-${i}`);
    expect(tx).toHaveBeenCalledTimes(3); // 200 reached: flushed without waiting for the timer
    expect(refusalsOnDisk()).toHaveLength(250);
    vi.advanceTimersByTime(1000);
    expect(tx).toHaveBeenCalledTimes(4);
    expect(refusalsOnDisk()).toHaveLength(300);
  });

  it('stop() writes the buffered refusals: they survive a restart', () => {
    const r = rig();
    for (let i = 0; i < 7; i++) r.gate.check(LOCK, '{', `before-stop-${i}`);
    r.gate.stop();
    // After stop() a refusal is written at once.
    r.gate.check(LOCK, '{', 'after-stop');
    r.store.stop();
    const again = openStore(r.dbPath);
    expect(again.auditTail(100).map((e) => e.actor)).toEqual([
      ...Array.from({ length: 7 }, (_, i) => `before-stop-${i}`),
      'after-stop',
    ]);
  });

  describe('audit budget', () => {
    const SUMMARY = /^(\d+) refusals not itemised \(audit budget\): by reason: (.+)$/;

    /** The summary rows on disk, and their counts added up by reason. */
    function summaries(store: Store) {
      const rows = store.auditTail(100_000).filter((e) => e.actor === 'gateway');
      const byReason: Record<string, number> = {};
      let total = 0;
      for (const e of rows) {
        expect(e).toMatchObject({ deviceId: 0n, action: 'summary', outcome: 'refused' });
        const m = SUMMARY.exec(e.reason);
        expect(m, e.reason).not.toBeNull();
        let sum = 0;
        for (const part of (m?.[2] ?? '').split(', ')) {
          const [reason, n] = part.split(' ');
          byReason[reason as string] = (byReason[reason as string] ?? 0) + Number(n);
          sum += Number(n);
        }
        expect(sum).toBe(Number(m?.[1]));
        total += sum;
      }
      return { rows, byReason, total };
    }

    function itemisedRefusals(store: Store) {
      return store.auditTail(100_000).filter((e) => e.outcome === 'refused' && e.actor !== 'gateway');
    }

    it('a flood from 5,000 rotating sources writes at most burst + refill × elapsed rows one by one and counts the rest exactly in summary rows; a grant mid-flood is audited', () => {
      vi.useFakeTimers();
      cleanups.push(() => vi.useRealTimers());
      const metrics = new Metrics();
      // The defaults, spelled out (checked at the end).
      const budget = { budgetBurst: 200, budgetPerSecond: 0.1, summaryMs: 10_000 };
      const r = rig({ deps: { metrics, auditBatch: budget } });
      const { budgetBurst, budgetPerSecond, summaryMs } = budget;
      const expired = token(accessFor(LOCK, { validUntil: BigInt(NOW - 10) }));
      const junk: [bigint, string][] = [
        [LOCK, '{'],
        [LOCK, expired],
        [99n, token(accessFor(99n))],
      ];
      const grant = accessFor(LOCK);

      // 1,000 tokens a second for 5 s, each from a source never seen before: the per-source limiter
      // admits every one of them.
      const reasons: string[] = [];
      let sawSummaryDuringFlood = false;
      for (let n = 0; n < 5000; n++) {
        if (n === 2500) expect(reasonOf(r.gate.check(LOCK, token(grant), 'guest'))).toBe('granted');
        const [device, payload] = junk[n % junk.length] as [bigint, string];
        reasons.push(reasonOf(r.gate.check(device, payload, `mqtt:reply/${n}`)));
        r.time.mono += 1;
        vi.advanceTimersByTime(1);
        if (n === 1500) sawSummaryDuringFlood = summaries(r.store).rows.length > 0;
      }
      const elapsedSeconds = r.time.mono / 1000;
      r.gate.flush();

      const sent = tally(reasons);
      expect(sent).toEqual({ malformed: 1667, expired: 1667, 'wrong-device': 1666 });
      expect(r.alarms).toEqual([]);

      // Written one by one: at most the budget.
      const itemised = itemisedRefusals(r.store);
      expect(itemised.length).toBeLessThanOrEqual(budgetBurst + budgetPerSecond * elapsedSeconds);
      expect(itemised.length).toBeGreaterThanOrEqual(budgetBurst);
      // The rest, exactly, in summary rows: the first within a flush interval of the flood, then at most
      // one per summary interval, and one at the final flush.
      const s = summaries(r.store);
      expect(sawSummaryDuringFlood).toBe(true);
      expect(s.rows.length).toBeLessThanOrEqual(1 + Math.ceil((elapsedSeconds * 1000) / summaryMs));
      expect(itemised.length + s.total).toBe(5000);
      const itemisedByReason = tally(itemised.map((e) => e.reason.split(':')[0] as string));
      for (const [reason, n] of Object.entries(sent))
        expect(s.byReason[reason], reason).toBe(n - (itemisedByReason[reason] ?? 0));
      // The same counts on /metrics.
      for (const [reason, n] of Object.entries(s.byReason))
        expect(metrics.get('latchkey_audit_refusals_not_itemised_total', { reason })).toBe(n);

      // The grant is audited, with its nonce, despite the flood.
      const grants = r.store.auditTail(100_000).filter((e) => e.outcome === 'ok');
      expect(grants).toHaveLength(1);
      expect(grants[0]).toMatchObject({ rentalId: grant.rentalId, actor: guest.address.toLowerCase() });
      expect(grants[0]?.reason).toMatch(/from guest/);
      // The whole flood: the budget, a few summaries and the grant, instead of 5,001 rows.
      expect(r.store.auditTail(100_000).length).toBe(itemised.length + s.rows.length + 1);

      // Once the budget has refilled, refusals are itemised again.
      r.time.mono += (budgetBurst / budgetPerSecond) * 1000;
      vi.advanceTimersByTime(summaryMs);
      for (const src of ['late-a', 'late-b', 'late-c']) r.gate.check(LOCK, '{', src);
      r.gate.flush();
      expect(
        itemisedRefusals(r.store)
          .slice(-3)
          .map((e) => e.actor),
      ).toEqual(['late-a', 'late-b', 'late-c']);
      expect(summaries(r.store).rows).toHaveLength(s.rows.length);
      expect(DEFAULT_AUDIT_BATCH).toMatchObject(budget);
    });

    it('a handful of refusals is itemised one by one as before, with no summary row', () => {
      const metrics = new Metrics();
      const r = rig({ deps: { metrics } });
      const expired = token(accessFor(LOCK, { validUntil: BigInt(NOW - 10) }));
      const checks: [bigint, string, string][] = [
        [LOCK, '{', 'a'],
        [LOCK, expired, 'b'],
        [99n, token(accessFor(99n)), 'c'],
        [LOCK, token(accessFor(LOCK, { rentalId: (LOCK << 64n) | 99n })), 'd'],
        [LOCK, expired, 'e'],
      ];
      for (const [device, payload, src] of checks) r.gate.check(device, payload, src);
      r.gate.flush();
      expect(itemisedRefusals(r.store).map((e) => [e.actor, e.reason.split(':')[0]])).toEqual([
        ['a', 'malformed'],
        ['b', 'expired'],
        ['c', 'wrong-device'],
        ['d', 'unknown-rental'],
        ['e', 'expired'],
      ]);
      expect(summaries(r.store).rows).toEqual([]);
      expect(metrics.render()).not.toMatch(/not_itemised/);
    });

    it('a store that fails while writing a summary (full) loses it (logged), never throws', () => {
      const first = rig();
      first.store.stop();
      const full = new Store(first.dbPath, { maxPageCount: 1 });
      full.start();
      cleanups.push(() => full.stop());
      fillUp(() =>
        full.audit({
          at: 1,
          deviceId: LOCK,
          action: 'x',
          actor: 'a',
          outcome: 'ok',
          reason: 'x'.repeat(1000),
        }),
      );
      fillUp(() =>
        full.audit({ at: 1, deviceId: LOCK, action: 'x', actor: 'a', outcome: 'ok', reason: 'r' }),
      );
      const r = rig({
        dbPath: first.dbPath,
        store: full,
        seed: false,
        deps: { auditBatch: { budgetBurst: 1 } },
      });
      r.gate.check(LOCK, '{', 'a'); // itemised
      r.gate.check(LOCK, '{', 'b'); // over the budget: counted for the summary
      expect(() => r.gate.flush()).not.toThrow();
      expect(r.logs.some((l) => l.includes('could not audit') && l.includes('"lostUncounted":1'))).toBe(true);
    });

    it('rejects a non-positive audit budget', () => {
      expect(() => rig({ deps: { auditBatch: { budgetPerSecond: 0 } } })).toThrow(
        /auditBatch.budgetPerSecond/,
      );
    });
  });
});
