// Decodes the contract's key logs the agent follows: SignerChanged (a host set a device's signer for
// new rentals) and SignerRevoked (a host revoked a gateway key for all its devices). Same slicing as
// decode.ts; the store keeps them as facts (SignerLog) that a reorg deletes and a rescan adds back.

import { keccak_256 } from '@noble/hashes/sha3.js';
import { bytesToHex } from '../../contracts/eip712.js';
import type { SignerLog } from '../store/store.js';
import { LogDecodeError, type LogPosition, logPosition, type RawLog } from './decode.js';

export type DecodedSignerLog = SignerLog & LogPosition;

export const SIGNER_EVENT_SIGNATURES = {
  SignerChanged: 'SignerChanged(uint256,address)',
  SignerRevoked: 'SignerRevoked(address,address)',
} as const;

const topicOf = (signature: string) => bytesToHex(keccak_256(new TextEncoder().encode(signature)));

export const SIGNER_TOPICS = {
  SignerChanged: topicOf(SIGNER_EVENT_SIGNATURES.SignerChanged),
  SignerRevoked: topicOf(SIGNER_EVENT_SIGNATURES.SignerRevoked),
} as const;

const WORD_HEX = /^0x[0-9a-fA-F]{64}$/;

/** A 32-byte word holding an address, as lower-case 0x hex; throws when the high bytes are not zero. */
function addressWord(word: string | undefined, field: string): string {
  if (word === undefined || !WORD_HEX.test(word) || !/^0x0{24}/.test(word))
    throw new LogDecodeError(`${field} is not an address`);
  return `0x${word.slice(26).toLowerCase()}`;
}

/** Whether `log` is one of the two key events (by topic0). */
export function isSignerLog(log: RawLog): boolean {
  const t = log.topics[0]?.toLowerCase();
  return t === SIGNER_TOPICS.SignerChanged || t === SIGNER_TOPICS.SignerRevoked;
}

/** Decodes a SignerChanged or SignerRevoked log; throws LogDecodeError for anything else or a malformed one. */
export function decodeSignerLog(log: RawLog): DecodedSignerLog {
  const t = log.topics[0]?.toLowerCase();
  if (t === SIGNER_TOPICS.SignerChanged) {
    if (log.topics.length !== 2) throw new LogDecodeError('SignerChanged: expected 2 topics');
    const device = log.topics[1];
    if (device === undefined || !WORD_HEX.test(device))
      throw new LogDecodeError('SignerChanged: deviceId is malformed');
    if (typeof log.data !== 'string' || log.data.length !== 66)
      throw new LogDecodeError('SignerChanged: expected 1 data word');
    return {
      kind: 'changed',
      deviceId: BigInt(device),
      signer: addressWord(log.data, 'SignerChanged: signer'),
      ...logPosition(log),
    };
  }
  if (t === SIGNER_TOPICS.SignerRevoked) {
    if (log.topics.length !== 3) throw new LogDecodeError('SignerRevoked: expected 3 topics');
    if (log.data !== '0x') throw new LogDecodeError('SignerRevoked: expected no data');
    return {
      kind: 'revoked',
      host: addressWord(log.topics[1], 'SignerRevoked: host'),
      signer: addressWord(log.topics[2], 'SignerRevoked: signer'),
      ...logPosition(log),
    };
  }
  throw new LogDecodeError(`not a signer event: ${log.topics[0]}`);
}
