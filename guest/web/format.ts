// Amounts and times as a guest reads them: ETH with enough digits to be exact, durations in h/min/s.

import { formatEther } from 'ethers';
import { currentLang } from './strings.js';

/** Wei as ETH, all significant digits (the summary must match the chain to the wei). */
export function eth(wei: bigint, symbol = 'ETH'): string {
  return `${formatEther(wei).replace(/\.0$/, '')} ${symbol}`;
}

/** Wei as ETH rounded for prices on the device screen (up to 6 decimals). */
export function ethShort(wei: bigint, symbol = 'ETH'): string {
  const [whole, frac = ''] = formatEther(wei).split('.');
  const cut = frac.slice(0, 6).replace(/0+$/, '');
  return `${whole}${cut ? `.${cut}` : ''} ${symbol}`;
}

export function duration(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const r = s % 60;
  if (currentLang() === 'ko') return h > 0 ? `${h}시간 ${m}분` : m > 0 ? `${m}분 ${r}초` : `${r}초`;
  return h > 0 ? `${h} h ${m} min` : m > 0 ? `${m} min ${r} s` : `${r} s`;
}

export function clock(unixSeconds: bigint | number): string {
  return new Date(Number(unixSeconds) * 1000).toLocaleTimeString(currentLang(), {
    hour: '2-digit',
    minute: '2-digit',
  });
}

export function shortHash(hash: string): string {
  return `${hash.slice(0, 10)}…${hash.slice(-6)}`;
}

export function shortAddress(a: string): string {
  return `${a.slice(0, 6)}…${a.slice(-4)}`;
}
