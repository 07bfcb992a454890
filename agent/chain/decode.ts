// Decodes the contract's rental logs (Rented, Extended, Cancelled, Settled) from raw eth_getLogs
// entries by slicing topics and fixed-size data words: a few µs each instead of Interface.parseLog.

import { keccak_256 } from '@noble/hashes/sha3.js';
import { bytesToHex } from '../../contracts/eip712.js';
import type { Rental } from '../../contracts/typedData.js';

/** A log as eth_getLogs returns it (hex quantities). */
export interface RawLog {
  address: string;
  topics: string[];
  data: string;
  blockNumber: string;
  blockHash: string;
  transactionHash: string;
  logIndex: string;
  removed?: boolean;
}

export const EVENT_SIGNATURES = {
  Rented: 'Rented(uint256,uint256,address,uint64,uint64,uint128,uint128,uint128,address,uint32,uint32)',
  Extended: 'Extended(uint256,uint256,uint64,uint128)',
  Cancelled: 'Cancelled(uint256,uint256,uint128,uint128)',
  Settled: 'Settled(uint256,uint256,uint128,uint128,bool)',
} as const;

export type EventName = keyof typeof EVENT_SIGNATURES;

/** topic0 of an event: keccak256 of its signature. */
function eventTopic(signature: string): string {
  return bytesToHex(keccak_256(new TextEncoder().encode(signature)));
}

export const TOPICS: Record<EventName, string> = {
  Rented: eventTopic(EVENT_SIGNATURES.Rented),
  Extended: eventTopic(EVENT_SIGNATURES.Extended),
  Cancelled: eventTopic(EVENT_SIGNATURES.Cancelled),
  Settled: eventTopic(EVENT_SIGNATURES.Settled),
};

const NAME_OF_TOPIC = new Map<string, EventName>(
  (Object.keys(TOPICS) as EventName[]).map((name) => [TOPICS[name], name]),
);

/** Where a log sits on chain; `key` (txHash:logIndex) identifies it for deduplication. */
export interface LogPosition {
  blockNumber: number;
  blockHash: string;
  txHash: string;
  logIndex: number;
  key: string;
}

export type RentalEvent =
  | { kind: 'Rented'; rentalId: bigint; deviceId: bigint; rental: Rental }
  | { kind: 'Extended'; rentalId: bigint; deviceId: bigint; end: bigint; deposit: bigint }
  | { kind: 'Cancelled'; rentalId: bigint; deviceId: bigint; fee: bigint; refund: bigint }
  | {
      kind: 'Settled';
      rentalId: bigint;
      deviceId: bigint;
      charge: bigint;
      refund: bigint;
      byReceipt: boolean;
    };

export type DecodedLog = RentalEvent & LogPosition;

const U32 = (1n << 32n) - 1n;
const U64 = (1n << 64n) - 1n;
const U128 = (1n << 128n) - 1n;
const WORD_HEX = /^0x[0-9a-fA-F]{64}$/;

export class LogDecodeError extends Error {
  override readonly name = 'LogDecodeError';
}

/** A uint256 deviceId as the 32-byte topic eth_getLogs filters on. */
export function uintTopic(value: bigint): string {
  if (value < 0n || value >= 1n << 256n) throw new RangeError(`not a uint256: ${value}`);
  return `0x${value.toString(16).padStart(64, '0')}`;
}

function topicWord(log: RawLog, i: number): bigint {
  const t = log.topics[i];
  if (t === undefined || !WORD_HEX.test(t)) throw new LogDecodeError(`topic ${i} missing or malformed`);
  return BigInt(t);
}

function dataWord(data: string, i: number, max: bigint, field: string): bigint {
  const v = BigInt(`0x${data.slice(2 + 64 * i, 66 + 64 * i)}`);
  if (v > max) throw new LogDecodeError(`${field} does not fit its type`);
  return v;
}

/** A data word holding an address, lower-case as the store keeps addresses. */
function dataAddress(data: string, i: number, field: string): string {
  const v = dataWord(data, i, (1n << 160n) - 1n, field);
  return `0x${v.toString(16).padStart(40, '0')}`;
}

function quantity(hex: string, field: string): number {
  if (typeof hex !== 'string' || !/^0x[0-9a-fA-F]{1,13}$/.test(hex))
    throw new LogDecodeError(`${field} is not a hex quantity`);
  return Number.parseInt(hex.slice(2), 16);
}

/** The position of a raw log; throws LogDecodeError when a field is missing or malformed. */
export function logPosition(log: RawLog): LogPosition {
  if (typeof log.blockHash !== 'string' || !WORD_HEX.test(log.blockHash))
    throw new LogDecodeError('blockHash is malformed');
  if (typeof log.transactionHash !== 'string' || !WORD_HEX.test(log.transactionHash))
    throw new LogDecodeError('transactionHash is malformed');
  const blockNumber = quantity(log.blockNumber, 'blockNumber');
  const logIndex = quantity(log.logIndex, 'logIndex');
  const txHash = log.transactionHash.toLowerCase();
  return {
    blockNumber,
    blockHash: log.blockHash.toLowerCase(),
    txHash,
    logIndex,
    key: `${txHash}:${logIndex}`,
  };
}

/** Decodes one of the four rental events; throws LogDecodeError for anything else or a malformed log. */
export function decodeRentalLog(log: RawLog): DecodedLog {
  const name = NAME_OF_TOPIC.get(log.topics[0]?.toLowerCase() ?? '');
  if (name === undefined) throw new LogDecodeError(`not a rental event: ${log.topics[0]}`);
  const words = { Rented: 8, Extended: 2, Cancelled: 2, Settled: 3 }[name];
  const topics = name === 'Rented' ? 4 : 3;
  if (log.topics.length !== topics) throw new LogDecodeError(`${name}: expected ${topics} topics`);
  if (
    typeof log.data !== 'string' ||
    log.data.length !== 2 + 64 * words ||
    !/^0x[0-9a-fA-F]*$/.test(log.data)
  )
    throw new LogDecodeError(`${name}: expected ${words} data words`);
  const position = logPosition(log);
  const rentalId = topicWord(log, 1);
  const deviceId = topicWord(log, 2);
  const d = log.data;
  switch (name) {
    case 'Rented': {
      const guestWord = topicWord(log, 3);
      if (guestWord >> 160n !== 0n) throw new LogDecodeError('Rented: guest is not an address');
      const rental: Rental = {
        id: rentalId,
        // lower-case, as the store keeps addresses
        guest: `0x${guestWord.toString(16).padStart(40, '0')}`,
        start: dataWord(d, 0, U64, 'start'),
        end: dataWord(d, 1, U64, 'end'),
        deposit: dataWord(d, 2, U128, 'deposit'),
        pricePerSecond: dataWord(d, 3, U128, 'pricePerSecond'),
        pricePerWh: dataWord(d, 4, U128, 'pricePerWh'),
        signer: dataAddress(d, 5, 'signer'),
        maxWatts: dataWord(d, 6, U32, 'maxWatts'),
        cancelWindow: dataWord(d, 7, U32, 'cancelWindow'),
      };
      return { kind: name, rentalId, deviceId, rental, ...position };
    }
    case 'Extended':
      return {
        kind: name,
        rentalId,
        deviceId,
        end: dataWord(d, 0, U64, 'end'),
        deposit: dataWord(d, 1, U128, 'deposit'),
        ...position,
      };
    case 'Cancelled':
      return {
        kind: name,
        rentalId,
        deviceId,
        fee: dataWord(d, 0, U128, 'fee'),
        refund: dataWord(d, 1, U128, 'refund'),
        ...position,
      };
    case 'Settled':
      return {
        kind: name,
        rentalId,
        deviceId,
        charge: dataWord(d, 0, U128, 'charge'),
        refund: dataWord(d, 1, U128, 'refund'),
        byReceipt: dataWord(d, 2, 1n, 'byReceipt') === 1n,
        ...position,
      };
  }
}
