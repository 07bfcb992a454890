import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Lease } from './lease.js';

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

const mono = () => performance.now();

describe('Lease', () => {
  it('fires once at its deadline', async () => {
    const fired = vi.fn();
    const lease = new Lease(mono, fired);
    lease.arm(10);
    await vi.advanceTimersByTimeAsync(9_999);
    expect(fired).not.toHaveBeenCalled();
    await vi.advanceTimersByTimeAsync(1);
    expect(fired).toHaveBeenCalledTimes(1);
    await vi.advanceTimersByTimeAsync(100_000);
    expect(fired).toHaveBeenCalledTimes(1);
  });

  it('runs longer than setTimeout allows (rentals of weeks)', async () => {
    const fired = vi.fn();
    const lease = new Lease(mono, fired);
    const days40 = 40 * 86_400;
    lease.arm(days40);
    await vi.advanceTimersByTimeAsync(days40 * 1000 - 1);
    expect(fired).not.toHaveBeenCalled();
    await vi.advanceTimersByTimeAsync(1);
    expect(fired).toHaveBeenCalledTimes(1);
  });

  it('ignores wall clock steps', async () => {
    const fired = vi.fn();
    const lease = new Lease(mono, fired);
    lease.arm(60);
    vi.setSystemTime(Date.now() + 86_400_000);
    await vi.advanceTimersByTimeAsync(59_000);
    vi.setSystemTime(Date.now() - 2 * 86_400_000);
    expect(fired).not.toHaveBeenCalled();
    await vi.advanceTimersByTimeAsync(1_000);
    expect(fired).toHaveBeenCalledTimes(1);
  });

  it('extends by exactly the extra time, also from inside its expiry', async () => {
    let lease: Lease | undefined;
    let extendOnce = true;
    const fired = vi.fn(() => {
      if (extendOnce) lease?.extend(30);
      extendOnce = false;
    });
    lease = new Lease(mono, fired);
    lease.arm(60);
    lease.extend(15);
    await vi.advanceTimersByTimeAsync(75_000);
    expect(fired).toHaveBeenCalledTimes(1);
    expect(lease.armed).toBe(true);
    await vi.advanceTimersByTimeAsync(29_999);
    expect(fired).toHaveBeenCalledTimes(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(fired).toHaveBeenCalledTimes(2);
    expect(lease.armed).toBe(false);
  });

  it('cancel stops it', async () => {
    const fired = vi.fn();
    const lease = new Lease(mono, fired);
    lease.arm(1);
    lease.cancel();
    lease.extend(5);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(fired).not.toHaveBeenCalled();
    expect(lease.remainingMs()).toBeUndefined();
  });
});
