// The wire formats of what a guest sends to a device: strict JSON decoding and shape checks, before any
// crypto is spent on it. Three messages share the access topic and route, told apart by their fields:
// a wallet token  {"access":{"rentalId":"<dec>","deviceId":"<dec>","action":"unlock","nonce":"<dec>","validUntil":<int>},
//                  "signature":"0x<130 hex>","id":"<optional request id>"}
// a session token {"access":{…the same…},"sessionSignature":"0x<128 hex: P-256 r ‖ s>","id":"…"}
// a session grant {"session":{"rentalId":"<dec>","deviceId":"<dec>","sessionKey":"0x04<128 hex>","validUntil":<int>},
//                  "signature":"0x<hex: 65 bytes from a key, any length from an ERC-1271 wallet>","id":"…"}

import { ACTIONS, type Access, type Action, type Session } from '../../contracts/typedData.js';

/** Largest payload accepted, in bytes of UTF-8 JSON. */
export const MAX_TOKEN_BYTES = 4096;
/** Longest request id; ids travel back in reply topics, so they are kept short and topic-safe. */
export const MAX_REQUEST_ID_LENGTH = 64;
/** The characters of one request id level: RFC 3986 unreserved, and ':'. Topic-safe (no + # / NUL). */
export const REQUEST_ID_CHARS = 'A-Z a-z 0-9 . _ ~ : -';
const LEVEL = '[A-Za-z0-9._~:-]+';
/**
 * The one request-id grammar (the token parser and the reply topics both use it): one level, or
 * `<owner>/<id>` where the owner is the requester's MQTT client id, as brokers let a guest read only
 * the replies under its own client id. 1-64 characters in all.
 */
const REQUEST_ID_RE = new RegExp(`^(?=.{1,${MAX_REQUEST_ID_LENGTH}}$)${LEVEL}(?:/${LEVEL})?$`);

/** True for a request id: what a token's `id` may be and what ends a reply topic. */
export function isRequestId(id: unknown): id is string {
  return typeof id === 'string' && REQUEST_ID_RE.test(id);
}

/** True for a string that may be one level of a request id, e.g. the owner (an MQTT client id). */
export function isRequestIdLevel(level: string): boolean {
  return level.length <= MAX_REQUEST_ID_LENGTH && new RegExp(`^${LEVEL}$`).test(level);
}

const MAX_UINT256 = (1n << 256n) - 1n;
const DECIMAL_RE = /^(0|[1-9][0-9]{0,77})$/;
const SIGNATURE_RE = /^0x[0-9a-fA-F]{130}$/;
/** WebCrypto's ECDSA output (IEEE P1363: r ‖ s, 32 bytes each); DER is refused, not converted. */
const SESSION_SIGNATURE_RE = /^0x[0-9a-fA-F]{128}$/;
/** A grant's signature: 65 bytes from a key, or whatever an ERC-1271 wallet's isValidSignature takes. */
const GRANT_SIGNATURE_RE = /^0x(?:[0-9a-fA-F]{2}){1,2000}$/;
const SESSION_KEY_RE = /^0x04[0-9a-fA-F]{128}$/;
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Who signed a token: the rental's wallet (secp256k1, EIP-712) or the session key it granted (P-256). */
export type TokenScheme = 'wallet' | 'session';

export interface WireToken {
  access: Access;
  scheme: TokenScheme;
  /** 65 bytes r ‖ s ‖ v for 'wallet'; 64 bytes r ‖ s (P1363) for 'session'. */
  signature: `0x${string}`;
  requestId?: string;
}

export interface WireGrant {
  session: Session;
  signature: `0x${string}`;
  requestId?: string;
}

export type Decoded<T> = { ok: true; value: T } | { ok: false; message: string; requestId?: string };

/**
 * Turns an MQTT payload (Buffer/Uint8Array), an HTTP body (string) or an already parsed value into a
 * JSON value, refusing anything over MAX_TOKEN_BYTES before parsing it. Never throws.
 */
export function decodePayload(payload: unknown): Decoded<unknown> {
  let text: string;
  if (typeof payload === 'string') {
    // A string longer than the limit in UTF-16 units is longer in UTF-8 bytes too: no need to measure.
    if (payload.length > MAX_TOKEN_BYTES || Buffer.byteLength(payload, 'utf8') > MAX_TOKEN_BYTES)
      return tooLarge(Buffer.byteLength(payload.slice(0, MAX_TOKEN_BYTES + 1), 'utf8'));
    text = payload;
  } else if (payload instanceof Uint8Array) {
    if (payload.byteLength > MAX_TOKEN_BYTES) return tooLarge(payload.byteLength);
    try {
      text = utf8.decode(payload);
    } catch {
      return { ok: false, message: 'payload is not valid UTF-8' };
    }
  } else {
    return { ok: true, value: payload };
  }
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch {
    return { ok: false, message: 'payload is not valid JSON' };
  }
}

function tooLarge(bytes: number): Decoded<never> {
  return {
    ok: false,
    message: `payload is ${bytes > MAX_TOKEN_BYTES ? `over ${MAX_TOKEN_BYTES}` : bytes} bytes; the limit is ${MAX_TOKEN_BYTES}`,
  };
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string') return v.length > 20 ? `a string of ${v.length} characters` : JSON.stringify(v);
  if (typeof v === 'number') return `the number ${v}`;
  if (typeof v === 'object') return isPlainObject(v) ? 'an object' : 'a non-plain object';
  return `a ${typeof v}`;
}

function uint256(v: unknown, field: string, struct = 'access'): bigint | string {
  if (typeof v !== 'string') return `${struct}.${field} must be a decimal string, got ${describe(v)}`;
  if (!DECIMAL_RE.test(v))
    return `${struct}.${field} must be a canonical decimal string (digits only, no sign or leading zeros), got ${describe(v)}`;
  const n = BigInt(v);
  if (n > MAX_UINT256) return `${struct}.${field} is larger than uint256`;
  return n;
}

/** True when a decoded JSON value has the shape of a session grant (its `session` field), not a token. */
export function isGrantShaped(value: unknown): boolean {
  return isPlainObject(value) && Object.hasOwn(value, 'session');
}

/**
 * The request id first, so even a refusal of a malformed message can be routed back to the sender;
 * a string is the refusal message.
 */
function readRequestId(value: Record<string, unknown>): string | undefined | { bad: string } {
  const id = value.id;
  if (id === undefined) return undefined;
  if (!isRequestId(id))
    return {
      bad: `id must be 1-${MAX_REQUEST_ID_LENGTH} characters of ${REQUEST_ID_CHARS}, optionally as <owner>/<id>, got ${describe(id)}`,
    };
  return id;
}

/** One message's outer shape: its kind, its top-level fields, and its one nested struct's fields. */
interface EnvelopeGrammar {
  /** 'token' | 'grant', as refusal messages name the message. */
  what: string;
  top: ReadonlySet<string>;
  /** The nested struct's field (access | session) and its fields, all required. */
  struct: string;
  fields: ReadonlySet<string>;
}

const TOKEN_ENVELOPE: EnvelopeGrammar = {
  what: 'token',
  top: new Set(['access', 'signature', 'sessionSignature', 'id']),
  struct: 'access',
  fields: new Set(['rentalId', 'deviceId', 'action', 'nonce', 'validUntil']),
};
const GRANT_ENVELOPE: EnvelopeGrammar = {
  what: 'grant',
  top: new Set(['session', 'signature', 'id']),
  struct: 'session',
  fields: new Set(['rentalId', 'deviceId', 'sessionKey', 'validUntil']),
};

/** A message whose envelope is sound: the top level, its nested struct, and a refusal that keeps the id. */
interface Envelope {
  top: Record<string, unknown>;
  body: Record<string, unknown>;
  requestId: string | undefined;
  fail: (message: string) => Decoded<never>;
}

/**
 * The part every message shares: a plain object, its request id (read first, so even a refusal of a
 * malformed message can be routed back), no unknown field at the top or in the nested struct, and every
 * field of the struct present.
 */
function readEnvelope(value: unknown, g: EnvelopeGrammar): Envelope | Decoded<never> {
  if (!isPlainObject(value))
    return { ok: false, message: `${g.what} must be a JSON object, got ${describe(value)}` };
  const id = readRequestId(value);
  if (typeof id === 'object') return { ok: false, message: id.bad };
  const requestId = id;
  const fail = (message: string): Decoded<never> =>
    requestId === undefined ? { ok: false, message } : { ok: false, message, requestId };
  for (const key of Object.keys(value))
    if (!g.top.has(key)) return fail(`unknown field ${JSON.stringify(key.slice(0, 40))} in ${g.what}`);
  const body = value[g.struct];
  if (!isPlainObject(body)) return fail(`${g.struct} must be a plain object, got ${describe(body)}`);
  for (const key of Object.keys(body))
    if (!g.fields.has(key)) return fail(`unknown field ${JSON.stringify(key.slice(0, 40))} in ${g.struct}`);
  for (const key of g.fields) if (!Object.hasOwn(body, key)) return fail(`${g.struct}.${key} is missing`);
  return { top: value, body, requestId, fail };
}

/** A validUntil field: whole unix seconds; a string is the refusal message. */
function unixSeconds(v: unknown, struct: string): number | string {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0)
    return `${struct}.validUntil must be a whole number of unix seconds, got ${describe(v)}`;
  return v;
}

/** Validates a decoded JSON value as a token, field by field, with a message naming the first problem. */
export function parseToken(value: unknown): Decoded<WireToken> {
  const envelope = readEnvelope(value, TOKEN_ENVELOPE);
  if ('ok' in envelope) return envelope;
  const { top, body: a, requestId, fail } = envelope;

  const rentalId = uint256(a.rentalId, 'rentalId');
  if (typeof rentalId === 'string') return fail(rentalId);
  const deviceId = uint256(a.deviceId, 'deviceId');
  if (typeof deviceId === 'string') return fail(deviceId);
  const nonce = uint256(a.nonce, 'nonce');
  if (typeof nonce === 'string') return fail(nonce);
  const action = a.action;
  if (typeof action !== 'string' || !(ACTIONS as readonly string[]).includes(action))
    return fail(`access.action must be one of ${ACTIONS.join(', ')}, got ${describe(action)}`);
  const validUntil = unixSeconds(a.validUntil, 'access');
  if (typeof validUntil === 'string') return fail(validUntil);

  const hasWallet = Object.hasOwn(top, 'signature');
  if (hasWallet === Object.hasOwn(top, 'sessionSignature'))
    return fail('token must carry exactly one of signature (wallet) and sessionSignature (session key)');
  let signature: unknown;
  if (hasWallet) {
    signature = top.signature;
    if (typeof signature !== 'string' || !SIGNATURE_RE.test(signature))
      return fail(
        `signature must be 0x followed by 130 hex digits (65 bytes r,s,v), got ${describe(signature)}`,
      );
  } else {
    signature = top.sessionSignature;
    if (typeof signature !== 'string' || !SESSION_SIGNATURE_RE.test(signature))
      return fail(
        `sessionSignature must be 0x followed by 128 hex digits (P-256 r ‖ s, as WebCrypto signs; not DER), got ${describe(signature)}`,
      );
  }

  const token: WireToken = {
    access: { rentalId, deviceId, action: action as Action, nonce, validUntil: BigInt(validUntil) },
    scheme: hasWallet ? 'wallet' : 'session',
    signature: signature as `0x${string}`,
  };
  if (requestId !== undefined) token.requestId = requestId;
  return { ok: true, value: token };
}

/** Validates a decoded JSON value as a session grant, with a message naming the first problem. */
export function parseGrant(value: unknown): Decoded<WireGrant> {
  const envelope = readEnvelope(value, GRANT_ENVELOPE);
  if ('ok' in envelope) return envelope;
  const { top, body: g, requestId, fail } = envelope;

  const rentalId = uint256(g.rentalId, 'rentalId', 'session');
  if (typeof rentalId === 'string') return fail(rentalId);
  const deviceId = uint256(g.deviceId, 'deviceId', 'session');
  if (typeof deviceId === 'string') return fail(deviceId);
  const sessionKey = g.sessionKey;
  if (typeof sessionKey !== 'string' || !SESSION_KEY_RE.test(sessionKey))
    return fail(
      `session.sessionKey must be an uncompressed P-256 point, 0x04 followed by 128 hex digits, got ${describe(sessionKey)}`,
    );
  const validUntil = unixSeconds(g.validUntil, 'session');
  if (typeof validUntil === 'string') return fail(validUntil);
  const signature = top.signature;
  if (typeof signature !== 'string' || !GRANT_SIGNATURE_RE.test(signature))
    return fail(`signature must be 0x followed by 1-2000 bytes of hex, got ${describe(signature)}`);

  const grant: WireGrant = {
    session: {
      rentalId,
      deviceId,
      sessionKey: sessionKey.toLowerCase() as `0x${string}`,
      validUntil: BigInt(validUntil),
    },
    signature: signature as `0x${string}`,
  };
  if (requestId !== undefined) grant.requestId = requestId;
  return { ok: true, value: grant };
}
