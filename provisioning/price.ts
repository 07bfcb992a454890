// Prices as a host writes them (ETH per hour, ETH per watt-hour) turned into the contract's exact wei
// units. The contract charges per second, so an hourly price that is not a whole number of wei per
// second is rounded down and the effective hourly price is shown.

import { formatEther, parseEther } from 'ethers';

const SECONDS_PER_HOUR = 3600n;
export const UINT128_MAX = (1n << 128n) - 1n;

/** An amount of ETH in decimal (at most 18 decimals) as exact wei, at least 0. */
export function ethAmount(value: string | undefined, flag: string, problems: string[]): bigint | undefined {
  if (value === undefined) return undefined;
  const m = /^(-?)([0-9]*)(?:\.([0-9]*))?$/.exec(value.trim());
  if (!m || `${m[2]}${m[3] ?? ''}` === '') {
    problems.push(`${flag}: expected an amount of ETH like 0.01, got ${value}`);
    return undefined;
  }
  if (m[1] === '-') {
    problems.push(`${flag}: must not be negative, got ${value}`);
    return undefined;
  }
  if ((m[3] ?? '').length > 18) {
    problems.push(`${flag}: ${value} ETH is finer than 1 wei (at most 18 decimals)`);
    return undefined;
  }
  return parseEther(`${m[2] || '0'}.${m[3] || '0'}`);
}

export interface SecondPrice {
  /** wei per second, rounded down. */
  perSecond: bigint;
  /** What the host actually charges per hour: perSecond × 3600 wei. */
  effectivePerHour: bigint;
  /** Whether the hourly price divided into whole wei per second. */
  exact: boolean;
}

export function perSecond(weiPerHour: bigint): SecondPrice {
  const perSecond = weiPerHour / SECONDS_PER_HOUR;
  const effectivePerHour = perSecond * SECONDS_PER_HOUR;
  return { perSecond, effectivePerHour, exact: effectivePerHour === weiPerHour };
}

/** The least hourly price the contract can charge: 1 wei per second. */
export const MIN_PER_HOUR_ETH = formatEther(SECONDS_PER_HOUR);

/** "0.5 ETH" with every significant digit (formatEther, without a trailing ".0"). */
export function eth(wei: bigint): string {
  return `${formatEther(wei).replace(/\.0$/, '')} ETH`;
}
