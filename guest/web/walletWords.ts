// A failed wallet request or transaction in the guest's words.

import { latchkey } from './chain.js';
import { chainName } from './state.js';
import { t } from './strings.js';
import { walletError } from './wallet.js';

export function walletWords(e: unknown): string {
  const w = walletError(e);
  switch (w.code) {
    case 'rejected':
      return t('wRejected');
    case 'locked':
      return t('wLocked');
    case 'pending':
      return t('wPending');
    case 'unsupported':
      return t('wUnsupported', { why: w.message });
    case 'disconnected':
      return t('wDisconnected');
    case 'chain-unknown':
      return t('wChain', { chain: chainName(), why: w.message });
    default: {
      const reason = revertReason(e);
      return reason ? t('txReverted', { why: reason }) : t('wOther', { why: w.message });
    }
  }
}

/** The contract's custom error in a failed call, by name (e.g. DeviceBusy). */
function revertReason(e: unknown): string | undefined {
  const seen = new Set<unknown>();
  let cur: unknown = e;
  while (cur && typeof cur === 'object' && !seen.has(cur)) {
    seen.add(cur);
    const data = (cur as { data?: unknown }).data;
    const hex = typeof data === 'string' ? data : (data as { data?: unknown } | undefined)?.data;
    if (typeof hex === 'string' && hex.startsWith('0x') && hex.length >= 10) {
      try {
        const parsed = latchkey.parseError(hex);
        if (parsed) return parsed.name;
      } catch {
        // not ours
      }
    }
    cur = (cur as { cause?: unknown }).cause ?? (data && typeof data === 'object' ? data : undefined);
  }
  return undefined;
}
