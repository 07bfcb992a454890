import { describe, expect, it } from 'vitest';
import {
  CHAIN_AHEAD_TOLERANCE_SECONDS,
  CHAIN_TOLERANCE_SECONDS,
  type TimeSource,
  TrustedClock,
} from './clock.js';
import { accessFor, LOCK, memoryContext, NOW, rentalOf, signNoble, wire } from './test/fixtures.js';
import { verifyAccess } from './verify.js';

const FLOOR = 1_750_000_000;
const HOUR = 3600;
const DAY = 86_400;

/** A hand-driven wall clock and monotonic clock. */
function fakeTime(wallSeconds: number) {
  const t = { wall: wallSeconds * 1000, mono: 5_000 };
  const source: TimeSource = { wallMs: () => t.wall, monoMs: () => t.mono };
  return {
    source,
    /** Real time passes: both clocks move. */
    pass(seconds: number) {
      t.wall += seconds * 1000;
      t.mono += seconds * 1000;
    },
    /** Somebody sets the wall clock: only it moves. */
    step(seconds: number) {
      t.wall += seconds * 1000;
    },
  };
}

describe('TrustedClock', () => {
  it('a gateway booted in 1970 has no trusted time, with or without a chain', () => {
    const t = fakeTime(0);
    const clock = new TrustedClock(FLOOR, t.source);
    expect(clock.now()).toBeUndefined();
    clock.observe(NOW);
    expect(clock.now()).toBeUndefined();
    expect(clock.wall()).toBe(0);
  });

  it('is anchored (bounded from above too) only once it has seen a chain time', () => {
    const t = fakeTime(FLOOR + DAY);
    const clock = new TrustedClock(FLOOR, t.source);
    expect(clock.anchored()).toBe(false);
    expect(clock.now()).toBe(FLOOR + DAY); // a day ahead passes while nothing bounds it
    clock.observe(FLOOR);
    expect(clock.anchored()).toBe(true);
    expect(clock.now()).toBeUndefined();
  });

  it('trusts the wall clock from the floor on until a chain block says otherwise', () => {
    const t = fakeTime(FLOOR);
    const clock = new TrustedClock(FLOOR, t.source);
    expect(clock.now()).toBe(FLOOR);
    t.step(-1);
    expect(clock.now()).toBeUndefined();
  });

  it('allows the wall clock to trail the chain by the tolerance, not more', () => {
    const t = fakeTime(NOW - CHAIN_TOLERANCE_SECONDS);
    const clock = new TrustedClock(FLOOR, t.source);
    clock.observe(NOW);
    expect(clock.now()).toBe(NOW - CHAIN_TOLERANCE_SECONDS);
    t.step(-1);
    expect(clock.now()).toBeUndefined();
    // An older block does not lower the bar; nonsense is ignored.
    clock.observe(NOW - DAY);
    clock.observe(Number.NaN);
    clock.observe(-5);
    expect(clock.now()).toBeUndefined();
    expect(clock.earliestTrusted()).toBe(NOW - CHAIN_TOLERANCE_SECONDS);
  });

  it('carries the chain time forward: a clock stepped back is caught even with the chain unreachable', () => {
    const t = fakeTime(NOW);
    const clock = new TrustedClock(FLOOR, t.source);
    clock.observe(NOW);
    t.pass(2 * HOUR);
    expect(clock.now()).toBe(NOW + 2 * HOUR);
    // Stepped back an hour: still later than the last block, but earlier than that block plus 2 h.
    t.step(-HOUR);
    expect(clock.now()).toBeUndefined();
    t.step(HOUR);
    expect(clock.now()).toBe(NOW + 2 * HOUR);
  });

  it('allows the wall clock to run ahead of the chain by the ahead tolerance, not more', () => {
    const t = fakeTime(NOW + CHAIN_AHEAD_TOLERANCE_SECONDS);
    const clock = new TrustedClock(FLOOR, t.source);
    clock.observe(NOW);
    expect(clock.latestTrusted()).toBe(NOW + CHAIN_AHEAD_TOLERANCE_SECONDS);
    expect(clock.now()).toBe(NOW + CHAIN_AHEAD_TOLERANCE_SECONDS);
    t.step(1);
    expect(clock.now()).toBeUndefined();
    // A newer block (the chain caught up with real time) makes the same wall clock plausible again.
    clock.observe(NOW + 60);
    expect(clock.now()).toBe(NOW + CHAIN_AHEAD_TOLERANCE_SECONDS + 1);
  });

  it('RELIABILITY 28: a wall clock stepped forward a day is untrusted, even with the chain unreachable', () => {
    const t = fakeTime(NOW);
    const clock = new TrustedClock(FLOOR, t.source);
    // No chain time yet: nothing to compare with, so only the floor applies.
    expect(clock.latestTrusted()).toBeUndefined();
    clock.observe(NOW);
    t.pass(2 * HOUR);
    expect(clock.now()).toBe(NOW + 2 * HOUR);
    t.step(DAY);
    expect(clock.now()).toBeUndefined();
    expect(clock.wall()).toBe(NOW + 2 * HOUR + DAY);
    expect(clock.latestTrusted()).toBe(NOW + 2 * HOUR + CHAIN_AHEAD_TOLERANCE_SECONDS);
    // Set right again: trusted again.
    t.step(-DAY);
    expect(clock.now()).toBe(NOW + 2 * HOUR);
  });

  it('RELIABILITY 28: a wall clock stepped back a day mid-rental gives no free extension', () => {
    const t = fakeTime(NOW);
    const clock = new TrustedClock(FLOOR, t.source);
    clock.observe(NOW);
    // A one-hour rental; the guest is inside it now.
    const rental = rentalOf(LOCK, { start: BigInt(NOW), end: BigInt(NOW + HOUR) });
    const tokenAt = (at: number) => {
      const a = accessFor(LOCK, { validUntil: BigInt(at + 60) });
      return wire(a, signNoble(a));
    };
    const ctx = () => memoryContext(LOCK, [rental], { now: clock.now() });
    expect(verifyAccess(tokenAt(NOW), ctx()).ok).toBe(true);

    t.pass(HOUR + 60);
    expect(verifyAccess(tokenAt(NOW + HOUR + 60), ctx())).toMatchObject({ ok: false, reason: 'ended' });
    // Somebody sets the clock back a day: the rental would look live again, but the clock is not trusted.
    t.step(-DAY);
    expect(verifyAccess(tokenAt(NOW + HOUR + 60 - DAY), ctx())).toMatchObject({
      ok: false,
      reason: 'clock-untrusted',
    });
    // Stepped forward a day instead: refused, the clock is not trusted either (nor is the lease extended).
    t.step(2 * DAY);
    expect(verifyAccess(tokenAt(NOW + HOUR + 60 + DAY), ctx())).toMatchObject({
      ok: false,
      reason: 'clock-untrusted',
    });
  });
});
