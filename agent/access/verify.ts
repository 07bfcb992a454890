// Access token verification as a pure function: (payload, context) → grant or typed refusal. No I/O of
// its own and no Date.now(); cheap checks first, so junk never costs a keccak, let alone a recovery.

import { accessDigest, bytesToHex, hexToBytes, recoverAddress } from '../../contracts/eip712.js';
import {
  type Access,
  type Action,
  deviceOf,
  KIND_ACTIONS,
  type KindName,
} from '../../contracts/typedData.js';
import type { StoredRental, StoredSessionKey } from '../store/store.js';
import { verifyP256 } from './p256.js';
import { decodePayload, parseToken, type TokenScheme } from './token.js';

export type RejectReason =
  | 'malformed'
  | 'wrong-device'
  | 'action-not-allowed'
  | 'clock-untrusted'
  | 'expired'
  | 'validity-too-long'
  | 'unknown-rental'
  | 'rental-not-open'
  | 'not-started'
  | 'ended'
  | 'nonce-used'
  | 'bad-signature'
  | 'not-renter'
  /** The gateway cannot decide now (a wallet contract's chain out of reach); not the sender's fault. */
  | 'unavailable'
  /** A session token for a rental with no live session key: never granted, or past its validUntil. */
  | 'no-session'
  /** The source sent too much or too many bad tokens, or the rental's signature checks are over budget. */
  | 'rate-limited';

export interface Grant {
  rental: StoredRental;
  action: Action;
  /** EIP-712 digest of the token (0x hex): the used-nonce key. */
  digest: string;
  validUntil: number;
  /** Who signed it: the wallet, or the session key the wallet granted. */
  scheme: TokenScheme;
  requestId?: string;
}

export type Verdict =
  | { ok: true; grant: Grant }
  | {
      ok: false;
      reason: RejectReason;
      message: string;
      requestId?: string;
      /** What a well-formed token claimed, unverified: for the audit log only, never for decisions. */
      claimed?: Access;
    };

export type DeviceKind = KindName;

export interface VerifyContext {
  /** Trusted unix seconds; undefined while the clock is not trusted → 'clock-untrusted'. */
  now: number | undefined;
  deviceId: bigint;
  kind: DeviceKind;
  /** domainSeparator(domain(chainId, contract)), computed once. */
  separator: Uint8Array;
  /** How far ahead validUntil may be (e.g. 300). */
  maxValiditySeconds: number;
  rental(id: bigint): StoredRental | undefined;
  nonceUsed(digestHex: string): boolean;
  /**
   * Asked right before the signature recovery, once every cheap check passed: undefined lets it run,
   * a message refuses the token as 'rate-limited' without it (the caller's CPU budget per rental).
   */
  beforeRecovery?(rental: StoredRental): string | undefined;
  /** The recovery itself (default recoverAddress); injectable to count or replace it. */
  recover?: typeof recoverAddress;
  /** The rental's session key (for session tokens); undefined when none was granted. */
  sessionKey?(rentalId: bigint): StoredSessionKey | undefined;
  /** As beforeRecovery, for the P-256 check of a session token (its own, larger budget). */
  beforeSessionCheck?(rental: StoredRental): string | undefined;
}

/** What each kind of device may be asked to do (defined with the protocol in contracts/typedData.ts). */
export const ALLOWED_ACTIONS = KIND_ACTIONS;

const SIGNATURE_PROBLEMS = {
  length: 'signature is not 65 bytes',
  v: 'signature v must be 27 or 28',
  'high-s':
    'signature s is in the upper half of the curve order (a malleable re-encoding); only low-s is accepted',
  range: 'signature r or s is zero or not below the curve order',
  invalid: 'signature does not recover to any public key',
} as const;

/** Decides whether a token (raw bytes, JSON text or a parsed object) may act on `ctx.deviceId` now. */
export function verifyAccess(payload: unknown, ctx: VerifyContext): Verdict {
  const decoded = decodePayload(payload);
  if (!decoded.ok) return { ok: false, reason: 'malformed', message: decoded.message };
  const parsed = parseToken(decoded.value);
  if (!parsed.ok) {
    const out: Verdict = { ok: false, reason: 'malformed', message: parsed.message };
    if (parsed.requestId !== undefined) out.requestId = parsed.requestId;
    return out;
  }
  const { access: a, signature, requestId, scheme } = parsed.value;
  const no = (reason: RejectReason, message: string): Verdict => {
    const out: Verdict = { ok: false, reason, message, claimed: a };
    if (requestId !== undefined) out.requestId = requestId;
    return out;
  };

  if (a.deviceId !== ctx.deviceId)
    return no('wrong-device', `token is for device ${a.deviceId}; it arrived for device ${ctx.deviceId}`);
  if (deviceOf(a.rentalId) !== ctx.deviceId)
    return no(
      'wrong-device',
      `rental ${a.rentalId} is a rental of device ${deviceOf(a.rentalId)}, not ${ctx.deviceId}`,
    );
  if (!ALLOWED_ACTIONS[ctx.kind].includes(a.action))
    return no(
      'action-not-allowed',
      `a ${ctx.kind} cannot ${a.action}; allowed: ${ALLOWED_ACTIONS[ctx.kind].join(', ')}`,
    );

  if (ctx.now === undefined || !Number.isFinite(ctx.now))
    return no(
      'clock-untrusted',
      'the gateway clock is not trusted yet (not synced with the chain); try again shortly',
    );
  const now = Math.floor(ctx.now);
  const validUntil = Number(a.validUntil);
  if (validUntil < now)
    return no('expired', `token expired ${now - validUntil} s ago (validUntil ${validUntil})`);
  if (validUntil - now > ctx.maxValiditySeconds)
    return no(
      'validity-too-long',
      `validUntil is ${validUntil - now} s ahead; tokens may be valid for at most ${ctx.maxValiditySeconds} s`,
    );

  const rental = ctx.rental(a.rentalId);
  if (!rental)
    return no('unknown-rental', `rental ${a.rentalId} is not known here (not paid, or not yet confirmed)`);
  if (rental.deviceId !== ctx.deviceId || rental.id !== a.rentalId)
    return no(
      'wrong-device',
      `rental ${a.rentalId} is recorded for device ${rental.deviceId}, not ${ctx.deviceId}`,
    );
  if (rental.status !== 'open') return no('rental-not-open', `rental ${a.rentalId} is ${rental.status}`);
  const nowBig = BigInt(now);
  if (nowBig < rental.start)
    return no('not-started', `rental ${a.rentalId} starts in ${rental.start - nowBig} s`);
  if (nowBig >= rental.end) return no('ended', `rental ${a.rentalId} ended ${nowBig - rental.end} s ago`);

  let session: StoredSessionKey | undefined;
  if (scheme === 'session') {
    session = ctx.sessionKey?.(rental.id);
    if (!session)
      return no(
        'no-session',
        `rental ${a.rentalId} has no session key here; sign with the wallet or grant one`,
      );
    if (now >= session.validUntil)
      return no(
        'no-session',
        `the session key of rental ${a.rentalId} expired ${now - session.validUntil} s ago`,
      );
  }

  // The used-nonce key is the EIP-712 digest (a few µs of keccak), never the signature bytes, so a
  // re-encoded signature of a used token is still a used token. Wallet and session tokens share it.
  const digestBytes = accessDigest(ctx.separator, a);
  const digest = bytesToHex(digestBytes);
  if (ctx.nonceUsed(digest)) return no('nonce-used', 'this token was already used');

  const grantOf = (): Verdict => {
    const grant: Grant = { rental, action: a.action, digest, validUntil, scheme };
    if (requestId !== undefined) grant.requestId = requestId;
    return { ok: true, grant };
  };

  if (session) {
    const limited = ctx.beforeSessionCheck?.(rental);
    if (limited !== undefined) return no('rate-limited', limited);
    // The session key signs the token's EIP-712 digest (WebCrypto hashes it once more with SHA-256).
    if (!verifyP256(session.publicKey, digestBytes, hexToBytes(signature)))
      return no(
        'bad-signature',
        "sessionSignature is not the rental's session key's signature of this token (wrong or replaced key)",
      );
    return grantOf();
  }

  const refused = ctx.beforeRecovery?.(rental);
  if (refused !== undefined) return no('rate-limited', refused);
  const recovered = (ctx.recover ?? recoverAddress)(digestBytes, hexToBytes(signature));
  if (!recovered.ok) return no('bad-signature', SIGNATURE_PROBLEMS[recovered.problem]);
  const guest = rental.guest.toLowerCase();
  if (recovered.address !== guest)
    return no(
      'not-renter',
      `token is signed by ${recovered.address}, not by the renter ${guest} (wrong key, or signed for another chain, contract or token)`,
    );
  return grantOf();
}
