import { describe, expect, it } from 'vitest';
import { ethAmount, MIN_PER_HOUR_ETH, perSecond } from './price.js';

function amount(value: string): { wei: bigint | undefined; problems: string[] } {
  const problems: string[] = [];
  return { wei: ethAmount(value, '--price', problems), problems };
}

describe('ethAmount', () => {
  it('reads decimal ETH exactly, to the wei', () => {
    expect(amount('0.5').wei).toBe(500_000_000_000_000_000n);
    expect(amount('.25').wei).toBe(250_000_000_000_000_000n);
    expect(amount('3').wei).toBe(3_000_000_000_000_000_000n);
    expect(amount('0.000000000000000001').wei).toBe(1n);
  });

  it('refuses negative, finer-than-wei and non-numbers with the reason', () => {
    expect(amount('-1').problems).toEqual(['--price: must not be negative, got -1']);
    expect(amount('0.0000000000000000001').problems[0]).toMatch(/finer than 1 wei/);
    for (const bad of ['abc', '1e-3', '', '.', '0x10', '1,5']) expect(amount(bad).problems).toHaveLength(1);
  });
});

describe('perSecond', () => {
  it('is exact when the hourly price is whole wei per second', () => {
    expect(perSecond(3_600_000_000_000_000n)).toEqual({
      perSecond: 1_000_000_000_000n,
      effectivePerHour: 3_600_000_000_000_000n,
      exact: true,
    });
  });

  it('rounds down otherwise, never charging more than asked', () => {
    const p = perSecond(10n ** 18n); // 1 ETH/hour
    expect(p.perSecond).toBe(277_777_777_777_777n);
    expect(p.effectivePerHour).toBe(999_999_999_999_997_200n);
    expect(p.exact).toBe(false);
  });

  it('names the least price the contract can take', () => {
    expect(MIN_PER_HOUR_ETH).toBe('0.0000000000000036');
    expect(perSecond(3599n).perSecond).toBe(0n);
  });
});
