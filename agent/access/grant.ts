// Session grant verification, the pure part: (payload, context) → a grant to install, a typed refusal, or
// a signature only the guest's smart-contract wallet can judge (ERC-1271, asked by the caller on chain).
// Cheap checks first, as for tokens; the grant is checked once per rental, off the per-unlock path.

import { bytesToHex, hexToBytes, recoverAddress, sessionDigest } from '../../contracts/eip712.js';
import { deviceOf, type Session } from '../../contracts/typedData.js';
import type { StoredRental, StoredSessionKey } from '../store/store.js';
import { p256Key } from './p256.js';
import { decodePayload, parseGrant } from './token.js';
import type { RejectReason } from './verify.js';

export interface SessionGrant {
  rental: StoredRental;
  sessionKey: `0x${string}`;
  validUntil: number;
  /** EIP-712 digest of the grant (0x hex): single use, like a token's. */
  digest: string;
  /** The same grant as the rental's current one: nothing to install again. */
  current: boolean;
  requestId?: string;
}

export type GrantRefusal = {
  ok: false;
  reason: RejectReason;
  message: string;
  requestId?: string;
  /** What a well-formed grant claimed, unverified: for the audit log only. */
  claimed?: Session;
};

export type GrantCheck =
  | { ok: true; grant: SessionGrant }
  /** The signature is not the guest key's: only the guest's wallet contract can say (ERC-1271). */
  | {
      ok: 'ask-wallet';
      grant: SessionGrant;
      digest: Uint8Array;
      signature: Uint8Array;
      /** The refusal to give when the wallet says no, or the guest is no contract. */
      otherwise: GrantRefusal;
    }
  | GrantRefusal;

export interface GrantContext {
  /** Trusted unix seconds; undefined while the clock is not trusted. */
  now: number | undefined;
  deviceId: bigint;
  separator: Uint8Array;
  rental(id: bigint): StoredRental | undefined;
  nonceUsed(digestHex: string): boolean;
  sessionKey(rentalId: bigint): StoredSessionKey | undefined;
  /** Asked right before the one expensive step (recovery, or the wallet's on-chain check). */
  beforeRecovery?(rental: StoredRental): string | undefined;
  recover?: typeof recoverAddress;
}

/** Decides whether a session grant (raw bytes, JSON text or a parsed object) may install its key now. */
export function verifyGrant(payload: unknown, ctx: GrantContext): GrantCheck {
  const decoded = decodePayload(payload);
  if (!decoded.ok) return { ok: false, reason: 'malformed', message: decoded.message };
  const parsed = parseGrant(decoded.value);
  if (!parsed.ok) {
    const out: GrantRefusal = { ok: false, reason: 'malformed', message: parsed.message };
    if (parsed.requestId !== undefined) out.requestId = parsed.requestId;
    return out;
  }
  const { session: g, signature, requestId } = parsed.value;
  const no = (reason: RejectReason, message: string): GrantRefusal => {
    const out: GrantRefusal = { ok: false, reason, message, claimed: g };
    if (requestId !== undefined) out.requestId = requestId;
    return out;
  };

  if (g.deviceId !== ctx.deviceId || deviceOf(g.rentalId) !== ctx.deviceId)
    return no(
      'wrong-device',
      `grant is for rental ${g.rentalId} of device ${g.deviceId}, not device ${ctx.deviceId}`,
    );
  if (ctx.now === undefined || !Number.isFinite(ctx.now))
    return no(
      'clock-untrusted',
      'the gateway clock is not trusted yet (not synced with the chain); try again shortly',
    );
  const now = Math.floor(ctx.now);
  const validUntil = Number(g.validUntil);
  if (validUntil <= now)
    return no('expired', `grant expired ${now - validUntil} s ago (validUntil ${validUntil})`);

  const rental = ctx.rental(g.rentalId);
  if (!rental)
    return no('unknown-rental', `rental ${g.rentalId} is not known here (not paid, or not yet confirmed)`);
  if (rental.deviceId !== ctx.deviceId)
    return no(
      'wrong-device',
      `rental ${g.rentalId} is recorded for device ${rental.deviceId}, not ${ctx.deviceId}`,
    );
  if (rental.status !== 'open') return no('rental-not-open', `rental ${g.rentalId} is ${rental.status}`);
  if (BigInt(now) >= rental.end)
    return no('ended', `rental ${g.rentalId} ended ${BigInt(now) - rental.end} s ago`);
  if (g.validUntil > rental.end)
    return no('validity-too-long', `grant validUntil ${validUntil} is after the rental's end ${rental.end}`);
  if (!p256Key(g.sessionKey)) return no('malformed', 'session.sessionKey is not a point on the P-256 curve');

  const digestBytes = sessionDigest(ctx.separator, g);
  const digest = bytesToHex(digestBytes);
  const grant: SessionGrant = {
    rental,
    sessionKey: g.sessionKey,
    validUntil,
    digest,
    current: ctx.sessionKey(rental.id)?.grantDigest === digest,
  };
  if (requestId !== undefined) grant.requestId = requestId;
  // Sent again (a page reload, a retry): the key is installed already; nothing is spent on it.
  if (grant.current) return { ok: true, grant };
  // Replaced or used grants stay used until they expire, so an old grant cannot bring its key back.
  if (ctx.nonceUsed(digest)) return no('nonce-used', 'this grant was already used and has been replaced');

  const refused = ctx.beforeRecovery?.(rental);
  if (refused !== undefined) return no('rate-limited', refused);
  const sig = hexToBytes(signature);
  const guest = rental.guest.toLowerCase();
  let otherwise: GrantRefusal;
  if (sig.length === 65) {
    const recovered = (ctx.recover ?? recoverAddress)(digestBytes, sig);
    if (recovered.ok && recovered.address === guest) return { ok: true, grant };
    otherwise = recovered.ok
      ? no('not-renter', `grant is signed by ${recovered.address}, not by the renter ${guest}`)
      : no('bad-signature', `grant signature does not recover (${recovered.problem})`);
  } else {
    otherwise = no(
      'bad-signature',
      `grant signature is ${sig.length} bytes, and the renter ${guest} is no wallet contract that accepts it`,
    );
  }
  return { ok: 'ask-wallet', grant, digest: digestBytes, signature: sig, otherwise };
}
