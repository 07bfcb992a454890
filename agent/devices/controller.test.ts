import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { hexToBytes, receiptDigest, recoverAddress } from '../../contracts/eip712.js';
import type { Action } from '../../contracts/typedData.js';
import { SimRelay } from '../../hardware/sim.js';
import type { Grant } from '../access/verify.js';
import { isError } from '../errors.js';
import type { Store, StoredReceipt, StoredRental } from '../store/store.js';
import type { DeviceControllerDeps, DeviceKind } from './controller.js';
import { nextPhase, transitions } from './machine.js';
import { rentalOf, SEPARATOR, signer, tempStore, testController, unixNow } from './testkit.js';

const T0 = Date.UTC(2026, 0, 10, 12, 0, 0);
const HOUR = 3600;

let env: ReturnType<typeof tempStore>;
let store: Store;

beforeEach(() => {
  vi.useFakeTimers({ now: T0 });
  env = tempStore();
  store = env.store;
});

afterEach(() => {
  vi.clearAllTimers();
  vi.useRealTimers();
  env.cleanup();
});

function make(
  kind: DeviceKind,
  relay = new SimRelay(),
  deviceId = 1n,
  extra: Partial<Pick<DeviceControllerDeps, 'checkpointSeconds' | 'now' | 'timeAnchored'>> = {},
) {
  const ctl = testController(relay, store, {
    deviceId,
    kind,
    retry: { backoffMs: 10, safetyRetryMs: 1000, safetyRetryMaxMs: 4000 },
    ...extra,
  });
  const receipts: StoredReceipt[] = [];
  ctl.on('receipt', (r) => receipts.push(r));
  return { ctl, relay, receipts };
}

/** A rental that started a minute ago and ends `seconds` from now, stored as the chain watcher would. */
function liveRental(seconds = HOUR, seq = 1n, deviceId = 1n): StoredRental {
  const now = unixNow();
  const r = rentalOf(deviceId, seq, now - 60, now + seconds);
  store.putRental(r);
  return r;
}

/** Awaits `p` while fake time moves on in small steps (for retries with backoff). */
async function drain<T>(p: Promise<T>): Promise<T> {
  let done = false;
  p.then(
    () => {
      done = true;
    },
    () => {
      done = true;
    },
  );
  while (!done) await vi.advanceTimersByTimeAsync(10);
  return p;
}

const grant = (rental: StoredRental, action: Action) => ({ rental, action });
const closedStates = (relay: SimRelay) => relay.switches.map((s) => s.closed);

function verifies(r: StoredReceipt): boolean {
  const rec = recoverAddress(receiptDigest(SEPARATOR, r.receipt), hexToBytes(r.signature));
  return rec.ok && rec.address === signer().address;
}

describe('state machine', () => {
  it('allows only the listed moves', () => {
    expect(nextPhase('stopped', 'close')).toBeUndefined();
    expect(nextPhase('idle', 'close')).toBeUndefined();
    expect(nextPhase('ending', 'close')).toBeUndefined();
    expect(nextPhase('idle', 'take')).toBe('open');
    expect(nextPhase('open', 'close')).toBe('closed');
    expect(nextPhase('closed', 'end')).toBe('ending');
    expect(nextPhase('ending', 'ended')).toBe('idle');
    for (const { from } of transitions()) expect(nextPhase(from, 'stop')).toBe('stopped');
  });

  it('refuses actions before start and actions of the other kind', async () => {
    const { ctl, relay } = make('lock');
    const r = liveRental();
    await expect(ctl.apply(grant(r, 'unlock'))).rejects.toSatisfy((e) => isError(e, 'BAD_REQUEST'));
    await ctl.start();
    await expect(ctl.apply(grant(r, 'on'))).rejects.toThrow(/does not do 'on'/);
    const other = rentalOf(2n, 1n, unixNow() - 10, unixNow() + HOUR);
    store.putRental(other);
    await expect(ctl.apply(grant(other, 'unlock'))).rejects.toThrow(/not for this device/);
    expect(relay.isClosed()).toBe(false);
    expect(store.auditTail(10, 1n).filter((e) => e.outcome === 'refused')).toHaveLength(3);
  });
});

describe('lock', () => {
  it('pulses open for pulseSeconds and relocks', async () => {
    const { ctl, relay } = make('lock');
    await ctl.start();
    const r = liveRental();
    const res = await ctl.apply(grant(r, 'unlock'));
    expect(res.state).toMatchObject({ relay: 'closed', phase: 'closed', rentalId: r.id });
    await vi.advanceTimersByTimeAsync(4_999);
    expect(relay.isClosed()).toBe(true);
    await vi.advanceTimersByTimeAsync(1);
    expect(relay.isClosed()).toBe(false);
    expect(ctl.state()).toMatchObject({ phase: 'open', usedSeconds: 5 });
    expect(closedStates(relay)).toEqual([false, true, false]);
    const actions = store.auditTail(10, 1n).map((e) => [e.action, e.actor, e.outcome]);
    expect(actions).toEqual([
      ['safe', 'boot', 'ok'],
      ['unlock', r.guest, 'ok'],
      ['lock', 'agent', 'ok'],
    ]);
  });

  it('takes a Grant from the access check as it is', async () => {
    const { ctl, relay } = make('lock');
    await ctl.start();
    const r = liveRental();
    const g: Grant = {
      rental: r,
      action: 'unlock',
      digest: `0x${'11'.repeat(32)}`,
      validUntil: unixNow() + 60,
      scheme: 'wallet',
    };
    await ctl.apply(g);
    expect(relay.isClosed()).toBe(true);
  });

  it('locks at once on lock, and the old pulse timer does nothing afterwards', async () => {
    const { ctl, relay } = make('lock');
    await ctl.start();
    const r = liveRental();
    await ctl.apply(grant(r, 'unlock'));
    await vi.advanceTimersByTimeAsync(2_000);
    await ctl.apply(grant(r, 'lock'));
    expect(relay.isClosed()).toBe(false);
    const writes = relay.switches.length;
    await vi.advanceTimersByTimeAsync(10_000);
    expect(relay.switches.length).toBe(writes);
    expect(ctl.state().usedSeconds).toBe(2);
  });

  it("a lock's token record commits with the usage checkpoint, before the relay opens", async () => {
    const { ctl, relay } = make('lock');
    await ctl.start();
    const r = liveRental();
    await ctl.apply(grant(r, 'unlock'));
    await vi.advanceTimersByTimeAsync(2_000);
    const db = Reflect.get(store, 'db') as { inTransaction: boolean };
    const checkpoints: { closed: boolean; inTransaction: boolean }[] = [];
    const put = store.putDeviceRuntime.bind(store);
    vi.spyOn(store, 'putDeviceRuntime').mockImplementation((rt) => {
      checkpoints.push({ closed: relay.isClosed(), inTransaction: db.inTransaction });
      put(rt);
    });
    const nonce = `0x${'22'.repeat(32)}`;
    let closedAtRecord: boolean | undefined;
    const record = () => {
      closedAtRecord = relay.isClosed();
      expect(store.useNonce(nonce, unixNow() + 60)).toBe(true);
    };
    await ctl.apply({ ...grant(r, 'lock'), record });
    expect(closedAtRecord).toBe(true);
    expect(relay.isClosed()).toBe(false);
    expect(store.nonceUsed(nonce)).toBe(true);
    // The checkpoint before opening rode in the record's transaction (one commit), then the opening's.
    expect(checkpoints[0]).toEqual({ closed: true, inTransaction: true });
    expect(ctl.state().usedSeconds).toBe(2);
  });

  it('a lock whose token was used meanwhile changes nothing: the pulse still relocks', async () => {
    const { ctl, relay } = make('lock');
    await ctl.start();
    const r = liveRental();
    await ctl.apply(grant(r, 'unlock'));
    const used = new Error('token used');
    const err = await ctl
      .apply({
        ...grant(r, 'lock'),
        record: () => {
          throw used;
        },
      })
      .catch((e: unknown) => e);
    expect(err).toBe(used);
    expect(relay.isClosed()).toBe(true);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(relay.isClosed()).toBe(false);
  });

  it('a second unlock mid-pulse restarts the pulse; each pulse counts its closed time', async () => {
    const { ctl, relay } = make('lock');
    await ctl.start();
    const r = liveRental();
    await ctl.apply(grant(r, 'unlock'));
    await vi.advanceTimersByTimeAsync(3_000);
    await ctl.apply(grant(r, 'unlock'));
    await vi.advanceTimersByTimeAsync(4_000);
    expect(relay.isClosed()).toBe(true);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(relay.isClosed()).toBe(false);
    await ctl.apply(grant(r, 'unlock'));
    await vi.advanceTimersByTimeAsync(5_000);
    expect(ctl.state().usedSeconds).toBe(13);
  });
});

describe('socket', () => {
  it('latches on for the rental and off on request; metering sums closed intervals', async () => {
    const { ctl, relay } = make('socket');
    await ctl.start();
    const r = liveRental();
    await ctl.apply(grant(r, 'on'));
    await vi.advanceTimersByTimeAsync(600_000);
    expect(relay.isClosed()).toBe(true);
    await ctl.apply(grant(r, 'off'));
    await vi.advanceTimersByTimeAsync(300_000);
    await ctl.apply(grant(r, 'on'));
    await vi.advanceTimersByTimeAsync(60_000);
    expect(ctl.state()).toMatchObject({ relay: 'closed', usedSeconds: 660 });
    expect(closedStates(relay)).toEqual([false, true, false, true]);
  });

  it('ends the lease at rental end by itself, with a signed receipt, and nothing after', async () => {
    const { ctl, relay, receipts } = make('socket');
    await ctl.start();
    const r = liveRental(HOUR);
    await ctl.apply(grant(r, 'on'));
    await vi.advanceTimersByTimeAsync(HOUR * 1000 - 1);
    expect(relay.isClosed()).toBe(true);
    await vi.advanceTimersByTimeAsync(1);
    expect(relay.isClosed()).toBe(false);
    expect(ctl.state()).toMatchObject({ phase: 'idle', usedSeconds: 0 });
    expect(receipts).toHaveLength(1);
    const stored = store.getReceipt(r.id);
    expect(stored).toMatchObject({ status: 'pending', receipt: { secondsUsed: BigInt(HOUR), energyWh: 0n } });
    expect(verifies(stored!)).toBe(true);
    expect(store.getDeviceRuntime(1n)).toMatchObject({ relayClosed: false, usedSeconds: 0 });
    expect(store.getDeviceRuntime(1n)?.rentalId).toBeUndefined();
    const writes = relay.switches.length;
    await vi.advanceTimersByTimeAsync(10 * HOUR * 1000);
    expect(relay.switches.length).toBe(writes);
    expect(store.pendingReceipts()).toHaveLength(1);
    expect(store.auditTail(1, 1n)[0]).toMatchObject({ action: 'end', actor: 'lease', rentalId: r.id });
  });

  it.each([
    ['forward', +1],
    ['back', -1],
  ])('a wall clock stepped a day %s mid-rental neither ends it early nor extends it', async (_, sign) => {
    const { ctl, relay, receipts } = make('socket');
    await ctl.start();
    const r = liveRental(HOUR);
    await ctl.apply(grant(r, 'on'));
    await vi.advanceTimersByTimeAsync(600_000);
    vi.setSystemTime(Date.now() + sign * 86_400_000);
    await vi.advanceTimersByTimeAsync(2_999_999);
    expect(relay.isClosed()).toBe(true);
    await vi.advanceTimersByTimeAsync(1);
    expect(relay.isClosed()).toBe(false);
    expect(receipts[0]?.receipt.secondsUsed).toBe(BigInt(HOUR));
  });

  it('the expiry sweep does not end the rental holding the lease when the wall clock jumps a day ahead', async () => {
    const { ctl, relay, receipts } = make('socket');
    await ctl.start();
    const r = liveRental(6 * HOUR);
    await ctl.apply(grant(r, 'on'));
    await vi.advanceTimersByTimeAsync(600_000);
    vi.setSystemTime(Date.now() + 86_400_000);
    // What the agent's sweep does for every open rental whose booked end is behind the wall clock.
    for (let i = 0; i < 3; i++) {
      expect(Number(r.end)).toBeLessThanOrEqual(unixNow());
      expect(await ctl.endRental(r.id, 'ended')).toBeUndefined();
      await vi.advanceTimersByTimeAsync(10_000);
    }
    expect(relay.isClosed()).toBe(true);
    expect(ctl.state()).toMatchObject({ phase: 'closed', rentalId: r.id });
    expect(store.getReceipt(r.id)).toBeUndefined();
    expect(store.auditTail(20, 1n).filter((e) => e.action === 'end')).toHaveLength(0);
    // The lease ends it at the booked end, on monotonic time.
    await vi.advanceTimersByTimeAsync((6 * HOUR - 600 - 30) * 1000 - 1);
    expect(relay.isClosed()).toBe(true);
    await vi.advanceTimersByTimeAsync(1);
    expect(relay.isClosed()).toBe(false);
    expect(receipts.map((x) => x.receipt.secondsUsed)).toEqual([BigInt(6 * HOUR)]);
  });

  it('meters energy reported by a meter into the receipt', async () => {
    const { ctl } = make('socket');
    await ctl.start();
    const r = liveRental();
    await ctl.apply(grant(r, 'on'));
    ctl.reportEnergy(12.5);
    ctl.reportEnergy(30);
    expect(() => ctl.reportEnergy(-1)).toThrow(/energy/);
    await vi.advanceTimersByTimeAsync(60_000);
    const { receipt } = await ctl.apply(grant(r, 'checkout'));
    expect(receipt?.receipt).toEqual({ rentalId: r.id, secondsUsed: 60n, energyWh: 42n });
  });

  it('publishes the state as energy is counted, at most once every 5 s', async () => {
    const { ctl } = make('socket');
    await ctl.start();
    const r = liveRental();
    await ctl.apply(grant(r, 'on'));
    const energy: number[] = [];
    ctl.on('state', (s) => energy.push(s.energyWh));
    ctl.reportEnergy(1);
    expect(energy).toEqual([1]); // the first report shows at once
    ctl.reportEnergy(2);
    ctl.reportEnergy(3);
    await vi.advanceTimersByTimeAsync(4_999);
    expect(energy).toEqual([1]);
    await vi.advanceTimersByTimeAsync(1);
    expect(energy).toEqual([1, 6]); // one publish for the burst, with all of it counted
    await vi.advanceTimersByTimeAsync(20_000);
    expect(energy).toEqual([1, 6]); // nothing new, nothing published
    ctl.reportEnergy(4);
    expect(energy).toEqual([1, 6, 10]);
    ctl.reportEnergy(5);
    await ctl.stop(); // a publish still waiting dies with the controller
    const afterStop = energy.length;
    await vi.advanceTimersByTimeAsync(10_000);
    expect(energy).toHaveLength(afterStop);
  });
});

describe('rental end', () => {
  it('checkout opens the relay and returns a verifiable receipt exactly once', async () => {
    const { ctl, relay, receipts } = make('socket');
    await ctl.start();
    const r = liveRental();
    await ctl.apply(grant(r, 'on'));
    await vi.advanceTimersByTimeAsync(90_000);
    const res = await ctl.apply(grant(r, 'checkout'));
    expect(relay.isClosed()).toBe(false);
    expect(res.receipt?.receipt.secondsUsed).toBe(90n);
    expect(verifies(res.receipt!)).toBe(true);
    await expect(ctl.apply(grant(r, 'on'))).rejects.toThrow(/already ended/);
    expect(await ctl.endRental(r.id, 'ended')).toEqual(res.receipt);
    await vi.advanceTimersByTimeAsync(2 * HOUR * 1000);
    expect(receipts).toHaveLength(1);
    expect(store.pendingReceipts()).toHaveLength(1);
  });

  it('a lock charges the time the guest held the key, not the seconds the bolt was drawn', async () => {
    const { ctl } = make('lock');
    await ctl.start();
    const r = liveRental(); // started 60 s ago
    await ctl.apply(grant(r, 'unlock'));
    await vi.advanceTimersByTimeAsync(10 * 60_000);
    const res = await ctl.apply(grant(r, 'checkout'));
    expect(res.receipt?.receipt.secondsUsed).toBe(60n + 600n);
  });

  it.each([
    ['trusted but a day ahead', () => unixNow()],
    ['untrusted', () => undefined],
  ])(
    'a lock checked out after the wall clock stepped a day forward is charged the time held (clock %s)',
    async (_, steppedNow) => {
      let now: () => number | undefined = unixNow;
      const { ctl } = make('lock', new SimRelay(), 1n, { now: () => now() });
      await ctl.start();
      const r = liveRental(6 * HOUR); // started 60 s ago
      await ctl.apply(grant(r, 'unlock'));
      await vi.advanceTimersByTimeAsync(10 * 60_000);
      vi.setSystemTime(Date.now() + 86_400_000);
      now = steppedNow;
      const res = await ctl.apply(grant(r, 'checkout'));
      expect(res.receipt?.receipt.secondsUsed).toBe(60n + 600n);
    },
  );

  it('a lock rental closed out without a lease while the clock is untrusted is charged the booked time', async () => {
    let trusted = true;
    const { ctl } = make('lock', new SimRelay(), 1n, { now: () => (trusted ? unixNow() : undefined) });
    await ctl.start();
    const r = liveRental(HOUR);
    await vi.advanceTimersByTimeAsync(2 * HOUR * 1000);
    // Stepped back before the rental's start: the raw wall clock would charge nothing.
    vi.setSystemTime(Date.now() - 86_400_000);
    trusted = false;
    expect((await ctl.endRental(r.id, 'ended'))?.receipt.secondsUsed).toBe(r.end - r.start);
  });

  it('a lock held to its end is charged the booked time, never more', async () => {
    const { ctl, receipts } = make('lock');
    await ctl.start();
    const r = liveRental(HOUR);
    await ctl.apply(grant(r, 'unlock'));
    await vi.advanceTimersByTimeAsync(3 * HOUR * 1000);
    expect(receipts).toHaveLength(1);
    expect(receipts[0]?.receipt.secondsUsed).toBe(r.end - r.start);
  });

  it('a rental never used still gets its receipt at the end, without touching the rental in progress', async () => {
    const { ctl, receipts } = make('socket');
    await ctl.start();
    const unused = liveRental(HOUR, 1n);
    const current = liveRental(2 * HOUR, 2n);
    await ctl.apply(grant(current, 'on'));
    const receipt = await ctl.endRental(unused.id, 'ended');
    expect(receipt?.receipt).toEqual({ rentalId: unused.id, secondsUsed: 0n, energyWh: 0n });
    expect(verifies(receipt!)).toBe(true);
    expect(receipts.map((r) => r.rentalId)).toEqual([unused.id]);
    expect(store.getDeviceRuntime(1n)?.rentalId).toBe(current.id);
    expect(ctl.state().relay).toBe('closed');
  });

  it('a lock rental never used is charged the time held', async () => {
    const { ctl } = make('lock');
    await ctl.start();
    const r = liveRental(HOUR);
    await vi.advanceTimersByTimeAsync(2 * HOUR * 1000);
    const receipt = await ctl.endRental(r.id, 'ended');
    expect(receipt?.receipt.secondsUsed).toBe(r.end - r.start);
  });

  it('a sweep repeating until the chain settles writes nothing after the first close-out', async () => {
    const { ctl, receipts } = make('socket');
    await ctl.start();
    const used = liveRental(HOUR, 1n);
    await ctl.apply(grant(used, 'on'));
    await vi.advanceTimersByTimeAsync(HOUR * 1000); // its lease ended it
    const unused = liveRental(HOUR, 2n);
    await vi.advanceTimersByTimeAsync(HOUR * 1000);
    const first = await ctl.endRental(unused.id, 'ended');
    expect(receipts.map((x) => x.rentalId)).toEqual([used.id, unused.id]);
    const audits = store.auditTail(100, 1n).length;
    const tx = vi.spyOn(store, 'tx');
    const audit = vi.spyOn(store, 'audit');
    // Both stay 'open' in the store until the watcher sees Settled: every sweep asks again.
    for (let i = 0; i < 20; i++) {
      expect(await ctl.endRental(used.id, 'ended')).toEqual(store.getReceipt(used.id));
      expect(await ctl.endRental(unused.id, 'ended')).toEqual(first);
    }
    expect(tx).not.toHaveBeenCalled();
    expect(audit).not.toHaveBeenCalled();
    expect(store.auditTail(100, 1n)).toHaveLength(audits);
    expect(receipts).toHaveLength(2);
    expect(store.pendingReceipts()).toHaveLength(2);
  });

  it('a receipted rental the runtime still names is released to idle without a new receipt', async () => {
    const { ctl, receipts } = make('socket');
    await ctl.start();
    const r = liveRental(HOUR);
    await vi.advanceTimersByTimeAsync(2 * HOUR * 1000);
    const receipt = await ctl.endRental(r.id, 'ended');
    store.putDeviceRuntime({
      deviceId: 1n,
      rentalId: r.id,
      relayClosed: true,
      usedSeconds: 9,
      energyWh: 0,
      updatedAt: unixNow(),
    });
    expect(await ctl.endRental(r.id, 'ended')).toEqual(receipt);
    expect(store.getDeviceRuntime(1n)).toMatchObject({ relayClosed: false, usedSeconds: 0 });
    expect(store.getDeviceRuntime(1n)?.rentalId).toBeUndefined();
    expect(receipts).toHaveLength(1);
  });

  it.each(['revoked', 'cancelled'] as const)(
    'a %s rental is switched off with no receipt',
    async (reason) => {
      const { ctl, relay, receipts } = make('socket');
      await ctl.start();
      const r = liveRental();
      await ctl.apply(grant(r, 'on'));
      store.setRentalStatus(r.id, reason);
      expect(await ctl.endRental(r.id, reason)).toBeUndefined();
      expect(relay.isClosed()).toBe(false);
      expect(store.getReceipt(r.id)).toBeUndefined();
      await vi.advanceTimersByTimeAsync(2 * HOUR * 1000);
      expect(receipts).toHaveLength(0);
    },
  );

  it('a rental reorged out is never receipted, even when asked to end it normally', async () => {
    const { ctl } = make('socket');
    await ctl.start();
    const r = liveRental();
    await ctl.apply(grant(r, 'on'));
    store.setRentalStatus(r.id, 'revoked');
    expect(await ctl.endRental(r.id, 'ended')).toBeUndefined();
  });

  it('a rental settled by time on chain ends without a receipt of ours', async () => {
    const { ctl, relay } = make('lock');
    await ctl.start();
    const r = liveRental();
    await ctl.apply(grant(r, 'unlock'));
    store.setRentalStatus(r.id, 'settled');
    await vi.advanceTimersByTimeAsync(HOUR * 1000);
    expect(relay.isClosed()).toBe(false);
    expect(store.getReceipt(r.id)).toBeUndefined();
    expect(store.auditTail(1, 1n)[0]?.reason).toMatch(/no receipt \(settled\)/);
  });

  it('an extension moves the lease by exactly what was bought', async () => {
    const { ctl, relay } = make('socket');
    await ctl.start();
    const r = liveRental(HOUR);
    await ctl.apply(grant(r, 'on'));
    await ctl.updateRental({ ...r, end: r.end + 1800n });
    await vi.advanceTimersByTimeAsync(HOUR * 1000);
    expect(relay.isClosed()).toBe(true);
    // recorded in the store but never passed on: found at lease end
    store.putRental({ ...r, end: r.end + 2n * 1800n });
    await vi.advanceTimersByTimeAsync(1800 * 1000);
    expect(relay.isClosed()).toBe(true);
    await vi.advanceTimersByTimeAsync(1800 * 1000);
    expect(relay.isClosed()).toBe(false);
    expect(store.getReceipt(r.id)?.receipt.secondsUsed).toBe(2n * BigInt(HOUR));
  });

  it('the next rental taking the device closes out the previous one', async () => {
    const { ctl, receipts } = make('socket');
    await ctl.start();
    const a = liveRental(HOUR, 1n);
    await ctl.apply(grant(a, 'on'));
    await vi.advanceTimersByTimeAsync(60_000);
    const b = liveRental(HOUR, 2n);
    await ctl.apply(grant(b, 'on'));
    expect(receipts.map((r) => [r.rentalId, r.receipt.secondsUsed])).toEqual([[a.id, 60n]]);
    expect(ctl.state()).toMatchObject({ rentalId: b.id, relay: 'closed' });
  });

  it('refuses a grant for a rental whose end has passed', async () => {
    const { ctl } = make('socket');
    await ctl.start();
    const r = rentalOf(1n, 1n, unixNow() - HOUR, unixNow());
    store.putRental(r);
    await expect(ctl.apply(grant(r, 'on'))).rejects.toThrow(/has ended/);
  });
});

describe('boot and shutdown', () => {
  /** Runs a socket rental on a first controller, then kills it without stop (its timers die with it). */
  async function crashWhileOn(kind: DeviceKind, seconds: number) {
    const first = make(kind, new SimRelay(), 1n, { checkpointSeconds: 10 });
    await first.ctl.start();
    const r = liveRental(HOUR);
    await first.ctl.apply(grant(r, kind === 'lock' ? 'unlock' : 'on'));
    await vi.advanceTimersByTimeAsync(seconds * 1000);
    // the process dies: its timers go with it (clearAllTimers also rewinds the fake clock, so put it back)
    const wall = Date.now();
    vi.clearAllTimers();
    vi.setSystemTime(wall);
    return r;
  }

  it('resumes a live socket rental: relay opened first, then powered back on; metering kept', async () => {
    const r = await crashWhileOn('socket', 125);
    expect(store.getDeviceRuntime(1n)).toMatchObject({ rentalId: r.id, relayClosed: true, usedSeconds: 120 });
    const relay = new SimRelay({ closed: true });
    expect(relay.isClosed()).toBe(true);
    const { ctl, receipts } = make('socket', relay);
    await vi.advanceTimersByTimeAsync(30_000);
    await ctl.start();
    expect(closedStates(relay)).toEqual([false, true]);
    expect(ctl.state()).toMatchObject({ phase: 'closed', rentalId: r.id, usedSeconds: 120 });
    // the lease still ends at the booked end: an hour after rent minus the 155 s already gone
    await vi.advanceTimersByTimeAsync((HOUR - 155) * 1000);
    expect(relay.isClosed()).toBe(false);
    expect(receipts).toHaveLength(1);
    expect(receipts[0]?.receipt.secondsUsed).toBe(BigInt(120 + HOUR - 155));
    expect(store.auditTail(20, 1n).map((e) => e.action)).toContain('resume');
  });

  it('a crash after the intent is persisted but before the relay switched: safe at boot, nothing counted', async () => {
    class HangingRelay extends SimRelay {
      override close(): Promise<void> {
        return new Promise(() => {});
      }
    }
    const first = make('socket', new HangingRelay());
    await first.ctl.start();
    const r = liveRental();
    void first.ctl.apply(grant(r, 'on'));
    await vi.advanceTimersByTimeAsync(20_000);
    const wall = Date.now();
    vi.clearAllTimers();
    vi.setSystemTime(wall);
    expect(store.getDeviceRuntime(1n)).toMatchObject({ rentalId: r.id, relayClosed: true, usedSeconds: 0 });
    expect(store.auditTail(1, 1n)[0]).toMatchObject({ action: 'on', actor: r.guest });
    const { ctl, relay } = make('socket', new SimRelay({ closed: true }));
    await ctl.start();
    expect(closedStates(relay)).toEqual([false, true]);
    expect(ctl.state()).toMatchObject({ rentalId: r.id, usedSeconds: 0 });
  });

  it('keeps a lock locked when resuming its live rental', async () => {
    const r = await crashWhileOn('lock', 2);
    const relay = new SimRelay({ closed: true });
    const { ctl } = make('lock', relay);
    await ctl.start();
    expect(closedStates(relay)).toEqual([false]);
    expect(ctl.state()).toMatchObject({ phase: 'open', rentalId: r.id, relay: 'open' });
    await ctl.apply(grant(r, 'unlock'));
    expect(relay.isClosed()).toBe(true);
  });

  it('boots safe with an expired rental and signs its receipt once', async () => {
    const r = await crashWhileOn('socket', 45);
    vi.setSystemTime(Date.now() + 2 * HOUR * 1000);
    const relay = new SimRelay({ closed: true });
    const { ctl, receipts } = make('socket', relay);
    await ctl.start();
    expect(closedStates(relay)).toEqual([false]);
    expect(ctl.state().phase).toBe('idle');
    expect(receipts).toHaveLength(1);
    const stored = store.getReceipt(r.id)!;
    expect(stored.receipt.secondsUsed).toBe(40n);
    expect(verifies(stored)).toBe(true);
    await ctl.stop();
    const again = make('socket', new SimRelay());
    await again.ctl.start();
    expect(again.receipts).toHaveLength(0);
    expect(store.pendingReceipts()).toHaveLength(1);
    await again.ctl.stop();
  });

  it('boots safe with a revoked rental and no receipt', async () => {
    const r = await crashWhileOn('socket', 45);
    store.setRentalStatus(r.id, 'revoked');
    const { ctl, relay } = make('socket', new SimRelay({ closed: true }));
    await ctl.start();
    expect(relay.isClosed()).toBe(false);
    expect(store.getReceipt(r.id)).toBeUndefined();
    expect(store.getDeviceRuntime(1n)?.rentalId).toBeUndefined();
  });

  it('boots safe and leaves the rental dormant while the clock is untrusted', async () => {
    const r = await crashWhileOn('socket', 45);
    let trusted = false;
    const { ctl, relay } = make('socket', new SimRelay({ closed: true }), 1n, {
      now: () => (trusted ? unixNow() : undefined),
    });
    await ctl.start();
    expect(relay.isClosed()).toBe(false);
    expect(ctl.state().phase).toBe('idle');
    expect(store.getDeviceRuntime(1n)?.rentalId).toBe(r.id);
    trusted = true;
    await ctl.reconcile();
    expect(relay.isClosed()).toBe(true);
    expect(ctl.state()).toMatchObject({ rentalId: r.id, usedSeconds: 40 });
  });

  it('leaves a rental that only a clock not yet checked against the chain calls ended dormant, and closes it out once checked', async () => {
    const r = await crashWhileOn('socket', 45);
    let anchored = false;
    const { ctl, relay } = make('socket', new SimRelay({ closed: true }), 1n, {
      // The gateway rebooted with its clock a day ahead; no chain time seen yet.
      now: () => unixNow() + 24 * HOUR,
      timeAnchored: () => anchored,
    });
    await ctl.start();
    expect(relay.isClosed()).toBe(false);
    expect(ctl.state().phase).toBe('idle');
    expect(store.getReceipt(r.id)).toBeUndefined();
    expect(store.getDeviceRuntime(1n)?.rentalId).toBe(r.id);

    anchored = true; // the chain says it is really ended
    await ctl.reconcile();
    expect(store.getReceipt(r.id)).toBeDefined();
    expect(store.getDeviceRuntime(1n)?.rentalId).toBeUndefined();
    expect(relay.isClosed()).toBe(false);
  });

  it('stop() leaves the relay open and keeps the rental for a restart', async () => {
    const { ctl, relay } = make('socket');
    await ctl.start();
    const r = liveRental();
    await ctl.apply(grant(r, 'on'));
    await vi.advanceTimersByTimeAsync(7_000);
    await ctl.stop();
    expect(relay.isClosed()).toBe(false);
    expect(ctl.state().phase).toBe('stopped');
    expect(store.getDeviceRuntime(1n)).toMatchObject({ rentalId: r.id, relayClosed: true, usedSeconds: 7 });
    expect(store.auditTail(1, 1n)[0]).toMatchObject({ action: 'safe', actor: 'shutdown', outcome: 'ok' });
    const writes = relay.switches.length;
    await vi.advanceTimersByTimeAsync(2 * HOUR * 1000);
    expect(relay.switches.length).toBe(writes);
    await expect(ctl.apply(grant(r, 'on'))).rejects.toThrow(/not started/);
  });

  it('stop() mid-pulse leaves a lock locked', async () => {
    const { ctl, relay } = make('lock');
    await ctl.start();
    await ctl.apply(grant(liveRental(), 'unlock'));
    await ctl.stop();
    expect(relay.isClosed()).toBe(false);
    expect(store.getDeviceRuntime(1n)?.relayClosed).toBe(false);
  });
});

describe('relay faults', () => {
  it('retries a failing write a bounded number of times and succeeds', async () => {
    const { ctl, relay } = make('lock');
    await ctl.start();
    relay.failNext(2, 'close');
    await drain(ctl.apply(grant(liveRental(), 'unlock')));
    expect(relay.isClosed()).toBe(true);
    expect(relay.failures).toBe(2);
  });

  it('reports RELAY_FAILED after the bounded retries of a close and stays safe', async () => {
    const { ctl, relay } = make('socket');
    await ctl.start();
    const r = liveRental();
    relay.failNext(3, 'close');
    const err = await drain(ctl.apply(grant(r, 'on'))).catch((e) => e);
    expect(isError(err, 'RELAY_FAILED')).toBe(true);
    expect(relay.failures).toBe(3);
    expect(relay.isClosed()).toBe(false);
    expect(ctl.state()).toMatchObject({ phase: 'open', usedSeconds: 0 });
    const last = store.auditTail(2, 1n);
    expect(last.map((e) => e.outcome)).toEqual(['ok', 'error']);
    expect(store.getDeviceRuntime(1n)?.relayClosed).toBe(false);
    await ctl.apply(grant(r, 'on'));
    expect(relay.isClosed()).toBe(true);
  });

  it('keeps retrying a failing open in the background until it succeeds, energising nothing meanwhile', async () => {
    const { ctl, relay } = make('lock');
    await ctl.start();
    const r = liveRental();
    await ctl.apply(grant(r, 'unlock'));
    relay.failNext(6, 'open');
    const err = await drain(ctl.apply(grant(r, 'lock'))).catch((e) => e);
    expect(isError(err, 'RELAY_FAILED')).toBe(true);
    expect(relay.isClosed()).toBe(true);
    expect(ctl.state().usedSeconds).toBe(0);
    await expect(ctl.apply(grant(r, 'unlock'))).rejects.toThrow(/failing to open/);
    // background: 1 s, 2 s, 4 s (cap) ... attempts 4, 5, 6 fail, the 7th succeeds
    await vi.advanceTimersByTimeAsync(1_000 + 2_000 + 4_000);
    expect(relay.isClosed()).toBe(true);
    await vi.advanceTimersByTimeAsync(4_000);
    expect(relay.isClosed()).toBe(false);
    expect(store.auditTail(1, 1n)[0]).toMatchObject({ action: 'safe', outcome: 'ok' });
    await ctl.apply(grant(r, 'unlock'));
    expect(relay.isClosed()).toBe(true);
  });

  it('still ends the rental and signs the receipt when the relay will not open at lease end', async () => {
    const { ctl, relay, receipts } = make('socket');
    await ctl.start();
    const r = liveRental(600);
    await ctl.apply(grant(r, 'on'));
    relay.failNext(4, 'open');
    await vi.advanceTimersByTimeAsync(600_000 + 100);
    expect(receipts[0]?.receipt.secondsUsed).toBe(600n);
    expect(relay.isClosed()).toBe(true);
    // background retry: 1 s (4th failure), then 2 s later it opens
    await vi.advanceTimersByTimeAsync(1_000);
    expect(relay.isClosed()).toBe(true);
    await vi.advanceTimersByTimeAsync(2_000);
    expect(relay.isClosed()).toBe(false);
  });
});
