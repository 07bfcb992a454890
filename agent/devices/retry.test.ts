import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { retryWrite, SafetyRetry } from './retry.js';

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('retryWrite', () => {
  it('gives up after the bounded attempts with the last error', async () => {
    let calls = 0;
    const p = retryWrite(
      async () => {
        calls++;
        throw new Error(`fail ${calls}`);
      },
      { attempts: 3, backoffMs: 100 },
    );
    const caught = p.catch((e) => e);
    await vi.advanceTimersByTimeAsync(100 + 200);
    expect((await caught).message).toBe('fail 3');
    expect(calls).toBe(3);
  });
});

describe('SafetyRetry', () => {
  it('retries with growing pauses until the open succeeds', async () => {
    let failures = 3;
    const opened = vi.fn();
    const retry = new SafetyRetry(
      async () => {
        if (failures-- > 0) throw new Error('stuck');
      },
      { safetyRetryMs: 100, safetyRetryMaxMs: 250 },
      opened,
      () => {},
    );
    retry.start();
    expect(retry.active).toBe(true);
    await vi.advanceTimersByTimeAsync(100 + 200 + 250);
    expect(opened).not.toHaveBeenCalled();
    await vi.advanceTimersByTimeAsync(250);
    expect(opened).toHaveBeenCalledWith(4);
    expect(retry.active).toBe(false);
  });

  it('stops for good when cancelled, also while an attempt is in flight', async () => {
    let calls = 0;
    let reject: ((e: Error) => void) | undefined;
    const retry = new SafetyRetry(
      () => {
        calls++;
        return new Promise<void>((_, rej) => {
          reject = rej;
        });
      },
      { safetyRetryMs: 100, safetyRetryMaxMs: 100 },
      () => {},
      () => {},
    );
    retry.start();
    await vi.advanceTimersByTimeAsync(100);
    expect(calls).toBe(1);
    retry.cancel();
    reject?.(new Error('stuck'));
    await vi.advanceTimersByTimeAsync(10_000);
    expect(calls).toBe(1);
    expect(retry.active).toBe(false);
  });
});
