// Checks of flag values that add a readable problem to a list and return the value, or undefined when
// it is missing or wrong, so a command can report every problem of a command line at once.

import { getAddress, isAddress, ZeroAddress } from 'ethers';

/** A 0x address (checksummed when mixed-case); the zero address is refused. */
export function address(value: string | undefined, flag: string, problems: string[]): string | undefined {
  if (value === undefined) return undefined;
  if (!isAddress(value)) {
    problems.push(`${flag}: not an address (0x + 40 hex digits, valid checksum if mixed-case): ${value}`);
    return undefined;
  }
  const checksummed = getAddress(value);
  if (checksummed === ZeroAddress) {
    problems.push(`${flag}: the zero address is not allowed`);
    return undefined;
  }
  return checksummed;
}

export function httpUrl(value: string | undefined, flag: string, problems: string[]): string | undefined {
  if (value === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    problems.push(`${flag}: not a URL: ${value}`);
    return undefined;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    problems.push(`${flag}: expected an http:// or https:// URL, got ${value}`);
    return undefined;
  }
  return value;
}

/** A whole number in [min, max], written in decimal digits. */
export function integer(
  value: string | undefined,
  flag: string,
  min: number,
  max: number,
  problems: string[],
): number | undefined {
  if (value === undefined) return undefined;
  const n = /^-?[0-9]+$/.test(value) ? Number(value) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    problems.push(`${flag}: expected a whole number from ${min} to ${max}, got ${value}`);
    return undefined;
  }
  return n;
}

export function oneOf<T extends string>(
  value: string | undefined,
  flag: string,
  options: readonly T[],
  problems: string[],
): T | undefined {
  if (value === undefined) return undefined;
  if (!(options as readonly string[]).includes(value)) {
    problems.push(`${flag}: expected ${options.join(' or ')}, got ${value}`);
    return undefined;
  }
  return value as T;
}
