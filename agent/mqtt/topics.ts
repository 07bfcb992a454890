// The one MQTT topic map of the agent: topic builders, the topic parser, and the payload of each topic.
//
//   <prefix>/<gatewayId>/availability            retained 'online' | 'offline' (last will)
//   <prefix>/<gatewayId>/<deviceId>/access       guest → agent, a signed token (JSON), never retained
//   <prefix>/<gatewayId>/<deviceId>/state        retained DeviceState JSON, bigints as decimal strings
//   <prefix>/<gatewayId>/<deviceId>/reply/<id>   agent → guest reply envelope when there is no MQTT 5
//                                                response topic; <id> is the token's `id` field, one
//                                                level or <owner>/<id> (agent/access/token.ts grammar)

import { isRequestId, MAX_REQUEST_ID_LENGTH, REQUEST_ID_CHARS } from '../access/token.js';
import type { RejectReason } from '../access/verify.js';
import {
  DEVICE_HEALTH_PROBLEMS,
  DEVICE_STATUSES,
  type DeviceHealthProblem,
  type DeviceStatus,
  deviceStatus,
  OFF_REASONS,
  type OffReason,
} from '../devices/deviceState.js';

export { isRequestId };

export const DEFAULT_PREFIX = 'latchkey';

export type Availability = 'online' | 'offline';

/**
 * Every error code the agent answers an access request with, over MQTT or LAN HTTP: the token's
 * rejection reasons (agent/access/verify.ts), then the agent's own, then the LAN HTTP server's refusals
 * of a request before it reaches the gate. The guest page has a sentence for each.
 */
export type ReplyCode =
  | RejectReason
  | 'unknown-device'
  | 'refused'
  | 'relay-failed'
  /** The device does not answer (its plug lost power or network): nothing was switched. */
  | 'device-offline'
  | 'unavailable'
  | 'internal'
  | 'too-large'
  | 'wrong-origin'
  | 'wrong-host'
  | 'unsupported-media-type'
  | 'method-not-allowed'
  | 'bad-url';

/** A reply to an access request, as zigbee2mqtt-style envelopes. */
export type ReplyEnvelope<T = unknown> =
  | { status: 'ok'; data: T }
  | { status: 'error'; error: { code: ReplyCode; message: string } };

/** What the state topic carries for a device (the fields of agent/devices DeviceState). */
export interface DeviceStateLike {
  deviceId: bigint;
  kind: 'lock' | 'socket';
  relay: 'open' | 'closed';
  rentalId?: bigint;
  leaseEndsAt?: number;
  usedSeconds: number;
  energyWh: number;
  /** The watt-hours the deposit pays for (energy-priced rentals). */
  prepaidEnergyWh?: number;
  /** Why a socket is off mid-rental. */
  offReason?: OffReason;
  /** The device's signer when its host has revoked it (no rentals until setSigner names another). */
  signerRevoked?: string;
  /** The hardware is offline or faulted (agent/devices/deviceHealth.ts). */
  health?: DeviceHealthProblem;
  /** The hardware's last fault, as it reported it. */
  fault?: string;
  /** The door stands open while the lock is locked and no unlock ran. */
  doorAlarm?: true;
}

/** T on the wire: bigints become decimal strings. */
export type Wire<T> = { [K in keyof T]: WireValue<T[K]> };
type WireValue<V> = V extends bigint ? string : V;

/** The state topic's payload: the device state, plus `status`, the relay in a guest's words. */
export type StateMessage = Wire<DeviceStateLike> & { status: DeviceStatus };

/** The payload of each topic kind, as the agent hands it around. */
export interface TopicPayloads {
  availability: Availability;
  /** Raw bytes, unparsed: the access gate parses and checks them. */
  access: Buffer;
  state: StateMessage;
  reply: ReplyEnvelope;
}

export type ParsedTopic =
  | { kind: 'availability'; gatewayId: string }
  | { kind: 'access'; gatewayId: string; deviceId: bigint }
  | { kind: 'state'; gatewayId: string; deviceId: bigint }
  | { kind: 'reply'; gatewayId: string; deviceId: bigint; requestId: string };

export class TopicError extends Error {
  override readonly name = 'TopicError';
}

const DECIMAL = /^(0|[1-9][0-9]{0,77})$/;
const UINT256_MAX = (1n << 256n) - 1n;

/** True if a topic (level) holds an MQTT wildcard or NUL, which no concrete topic may. */
export function hasWildcard(topic: string): boolean {
  return topic.includes('+') || topic.includes('#') || topic.includes('\u0000');
}

/** Checks one topic level supplied by configuration (gateway id): non-empty, no wildcard, no separator. */
export function checkSegment(value: string, what: string): string {
  if (value.length === 0) throw new TopicError(`${what} must not be empty`);
  if (hasWildcard(value) || value.includes('/'))
    throw new TopicError(`${what} must not contain '+', '#', '/' or NUL: ${value}`);
  if (Buffer.byteLength(value) > 128) throw new TopicError(`${what} is longer than 128 bytes`);
  return value;
}

function checkPrefix(prefix: string): string {
  if (prefix.length === 0) throw new TopicError('topic prefix must not be empty');
  if (hasWildcard(prefix)) throw new TopicError(`topic prefix must not contain '+', '#' or NUL: ${prefix}`);
  if (prefix.split('/').some((level) => level.length === 0)) {
    throw new TopicError(`topic prefix must not have empty levels: ${prefix}`);
  }
  return prefix;
}

function checkDeviceId(deviceId: bigint): string {
  if (deviceId < 0n || deviceId > UINT256_MAX)
    throw new TopicError(`device id out of uint256 range: ${deviceId}`);
  return deviceId.toString();
}

/** Builds and parses the topics under one prefix. Pure: no I/O. */
export class Topics {
  readonly prefix: string;
  private readonly levels: string[];

  constructor(prefix: string = DEFAULT_PREFIX) {
    this.prefix = checkPrefix(prefix);
    this.levels = prefix.split('/');
  }

  availability(gatewayId: string): string {
    return `${this.prefix}/${checkSegment(gatewayId, 'gateway id')}/availability`;
  }

  access(gatewayId: string, deviceId: bigint): string {
    return this.device(gatewayId, deviceId, 'access');
  }

  state(gatewayId: string, deviceId: bigint): string {
    return this.device(gatewayId, deviceId, 'state');
  }

  reply(gatewayId: string, deviceId: bigint, requestId: string): string {
    if (!isRequestId(requestId))
      throw new TopicError(
        `request id must be 1-${MAX_REQUEST_ID_LENGTH} of ${REQUEST_ID_CHARS} (or <owner>/<id>): ${requestId}`,
      );
    return `${this.device(gatewayId, deviceId, 'reply')}/${requestId}`;
  }

  /** Topic string → what it is, or undefined for anything outside this map. */
  parse(topic: string): ParsedTopic | undefined {
    const levels = topic.split('/');
    if (levels.length < this.levels.length + 2) return undefined;
    for (let i = 0; i < this.levels.length; i++) if (levels[i] !== this.levels[i]) return undefined;
    const [gatewayId, second, third, fourth, ...extra] = levels.slice(this.levels.length);
    if (!gatewayId || !second || hasWildcard(topic)) return undefined;
    if (third === 'reply' && fourth !== undefined) {
      const requestId = [fourth, ...extra].join('/');
      if (!DECIMAL.test(second) || BigInt(second) > UINT256_MAX || !isRequestId(requestId)) return undefined;
      return { kind: 'reply', gatewayId, deviceId: BigInt(second), requestId };
    }
    if (extra.length > 0) return undefined;
    if (second === 'availability')
      return third === undefined ? { kind: 'availability', gatewayId } : undefined;
    if (!DECIMAL.test(second)) return undefined;
    const deviceId = BigInt(second);
    if (deviceId > UINT256_MAX) return undefined;
    if ((third === 'access' || third === 'state') && fourth === undefined)
      return { kind: third, gatewayId, deviceId };
    return undefined;
  }

  private device(gatewayId: string, deviceId: bigint, leaf: string): string {
    return `${this.prefix}/${checkSegment(gatewayId, 'gateway id')}/${checkDeviceId(deviceId)}/${leaf}`;
  }
}

export function encodeState(state: DeviceStateLike): string {
  const message: StateMessage = {
    deviceId: state.deviceId.toString(),
    kind: state.kind,
    relay: state.relay,
    status: deviceStatus(state.kind, state.relay),
    ...(state.rentalId === undefined ? {} : { rentalId: state.rentalId.toString() }),
    ...(state.leaseEndsAt === undefined ? {} : { leaseEndsAt: state.leaseEndsAt }),
    usedSeconds: state.usedSeconds,
    energyWh: state.energyWh,
    ...(state.prepaidEnergyWh === undefined ? {} : { prepaidEnergyWh: state.prepaidEnergyWh }),
    ...(state.offReason === undefined ? {} : { offReason: state.offReason }),
    ...(state.signerRevoked === undefined ? {} : { signerRevoked: state.signerRevoked }),
    ...(state.health === undefined ? {} : { health: state.health }),
    ...(state.fault === undefined ? {} : { fault: state.fault }),
    ...(state.doorAlarm === undefined ? {} : { doorAlarm: state.doorAlarm }),
  };
  return JSON.stringify(message);
}

export function encodeReply(envelope: ReplyEnvelope): string {
  return JSON.stringify(envelope, (_key, value: unknown) =>
    typeof value === 'bigint' ? value.toString() : value,
  );
}

/** Parses a reply envelope (for guests, tests and tools); throws TopicError on anything else. */
export function decodeReply(payload: Uint8Array | string): ReplyEnvelope {
  const value = parseJson(payload, 'reply');
  if (isObject(value) && value.status === 'ok' && 'data' in value) return { status: 'ok', data: value.data };
  if (isObject(value) && value.status === 'error' && isObject(value.error)) {
    const { code, message } = value.error;
    if (typeof code === 'string' && typeof message === 'string')
      return { status: 'error', error: { code: code as ReplyCode, message } };
  }
  throw new TopicError('reply is not an ok/error envelope');
}

/** Parses a state message (for guests, tests and tools); throws TopicError on anything else. */
export function decodeState(payload: Uint8Array | string): StateMessage {
  const value = parseJson(payload, 'state');
  if (
    !isObject(value) ||
    typeof value.deviceId !== 'string' ||
    !DECIMAL.test(value.deviceId) ||
    (value.kind !== 'lock' && value.kind !== 'socket') ||
    (value.relay !== 'open' && value.relay !== 'closed') ||
    !DEVICE_STATUSES.includes(value.status as DeviceStatus) ||
    value.status !== deviceStatus(value.kind, value.relay) ||
    typeof value.usedSeconds !== 'number' ||
    typeof value.energyWh !== 'number' ||
    (value.rentalId !== undefined && (typeof value.rentalId !== 'string' || !DECIMAL.test(value.rentalId))) ||
    (value.leaseEndsAt !== undefined && typeof value.leaseEndsAt !== 'number') ||
    (value.prepaidEnergyWh !== undefined && typeof value.prepaidEnergyWh !== 'number') ||
    (value.offReason !== undefined && !OFF_REASONS.includes(value.offReason as OffReason)) ||
    (value.signerRevoked !== undefined &&
      (typeof value.signerRevoked !== 'string' || !/^0x[0-9a-f]{40}$/.test(value.signerRevoked))) ||
    (value.health !== undefined && !DEVICE_HEALTH_PROBLEMS.includes(value.health as DeviceHealthProblem)) ||
    (value.fault !== undefined && typeof value.fault !== 'string') ||
    (value.doorAlarm !== undefined && value.doorAlarm !== true)
  ) {
    throw new TopicError('state is not a DeviceState message');
  }
  return value as unknown as StateMessage;
}

export function decodeAvailability(payload: Uint8Array | string): Availability {
  const text = typeof payload === 'string' ? payload : Buffer.from(payload).toString('utf8');
  if (text === 'online' || text === 'offline') return text;
  throw new TopicError(
    `availability must be 'online' or 'offline', got ${JSON.stringify(text.slice(0, 32))}`,
  );
}

function parseJson(payload: Uint8Array | string, what: string): unknown {
  try {
    return JSON.parse(typeof payload === 'string' ? payload : Buffer.from(payload).toString('utf8'));
  } catch {
    throw new TopicError(`${what} is not JSON`);
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
