// The I/O side of the access check: per-source flood control and lockout, a per-rental and global budget
// of signature recoveries, the pure verification against the store's rentals, the nonce recorded
// atomically with the grant, and an audit entry for every answer (refusals written in batches, itemised
// within a global budget and summarised beyond it).

import { EventEmitter } from 'node:events';
import { LatchkeyError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import type { Store } from '../store/store.js';
import { AuditBatch, type AuditBatchOptions } from './auditBatch.js';
import type { TrustedClock } from './clock.js';
import { type GrantRefusal, type SessionGrant, verifyGrant } from './grant.js';
import { type RateLimitOptions, SourceLimiter } from './ratelimit.js';
import {
  DEFAULT_GRANT_CHECK_LIMIT,
  DEFAULT_SESSION_CHECK_LIMIT,
  RecoveryLimiter,
  type RecoveryLimitOptions,
} from './recoveryLimit.js';
import { decodePayload, isGrantShaped } from './token.js';
import {
  type DeviceKind,
  type Grant,
  type RejectReason,
  type Verdict,
  type VerifyContext,
  verifyAccess,
} from './verify.js';

export const DEFAULT_MAX_VALIDITY_SECONDS = 300;

/** The way a message arrived. Each path has its own session-check budgets: a flood on one cannot starve
 *  the other. */
export type AccessPath = 'mqtt' | 'http';
const PATHS: readonly AccessPath[] = ['mqtt', 'http'];

/** What the gate answers: a token's verdict, or a session grant installed (or already installed). */
export type Answer = Verdict | { ok: true; session: SessionGrant } | GrantRefusal;

/** A granted token whose nonce and audit entry are still to be committed: see checkPending(). */
export interface PendingGrant extends Grant {
  record: () => void;
}
export type PendingVerdict = { ok: true; grant: PendingGrant } | (Verdict & { ok: false });
export type PendingAnswer = PendingVerdict | { ok: true; session: SessionGrant } | GrantRefusal;

/** Thrown by PendingGrant.record() when another delivery of the token recorded its nonce first. */
export class TokenUsed extends LatchkeyError {
  constructor(readonly verdict: Verdict & { ok: false }) {
    super('TOKEN_USED', verdict.message);
  }
}

/**
 * Asks a smart-contract wallet whether it signed `digest` (ERC-1271 isValidSignature, or ERC-6492 for
 * one not deployed yet); false for an account that is no such wallet. Throws when the chain is out of reach.
 */
export type WalletSignatureCheck = (
  account: string,
  digest: Uint8Array,
  signature: Uint8Array,
) => Promise<boolean>;
const MAX_SOURCE_LENGTH = 200;

export interface AccessGateDeps {
  store: Store;
  clock: TrustedClock;
  separator: Uint8Array;
  log: Logger;
  devices: Map<bigint, { kind: DeviceKind }>;
  maxValiditySeconds?: number;
  /** Per-source volume and lockout (defaults: DEFAULT_RATE_LIMIT). The source is chosen by the sender
   *  over MQTT, so this only holds back honest or careless senders; recoveryLimit bounds the CPU. */
  rateLimit?: Partial<RateLimitOptions>;
  /** Wallet tokens' signature recoveries per rental and overall (defaults: DEFAULT_RECOVERY_LIMIT: burst 10, 5/s per
   *  rental; 0.2/s for 30 s after 20 failures within 10 s; 150/s across all rentals). */
  recoveryLimit?: Partial<RecoveryLimitOptions>;
  /** Refusal audit batching and budget (defaults: DEFAULT_AUDIT_BATCH: every 1000 ms or 200 entries;
   *  200 refusals itemised in a burst, then one per 10 s; the rest counted in a summary row every 10 s). */
  auditBatch?: Partial<AuditBatchOptions>;
  /** P-256 checks of session tokens per rental and per path (defaults: DEFAULT_SESSION_CHECK_LIMIT:
   *  burst 2,000, 2,000/s per rental, 4,000/s per path; no penalty, as a failed check costs ~0.1 ms). */
  sessionCheckLimit?: Partial<RecoveryLimitOptions>;
  /** Recoveries (or ERC-1271 calls) of session grants per rental and per path, apart from the tokens'
   *  (defaults: DEFAULT_GRANT_CHECK_LIMIT: as recoveryLimit, 25/s across all rentals per path). */
  grantCheckLimit?: Partial<RecoveryLimitOptions>;
  /** The signature recovery (default recoverAddress); injectable to observe it. */
  recover?: VerifyContext['recover'];
  /** ERC-1271 grants from smart-contract wallets; without it only keys' grants are accepted. */
  walletSignature?: WalletSignatureCheck;
  /** Monotonic ms for rate limiting and the audit budget (default performance.now()); injectable. */
  nowMs?: () => number;
  /** Counts the refusals the audit budget leaves out of the log one by one, by reason
   *  (latchkey_audit_refusals_not_itemised_total). */
  metrics?: Metrics;
}

export interface LockoutAlarm {
  source: string;
  deviceId: bigint;
  lockoutSeconds: number;
  lastReason: RejectReason;
}

export interface AccessGateEvents {
  /** A source sent too many bad tokens and is locked out; raised once per lockout. */
  lockout: [LockoutAlarm];
}

export class AccessGate extends EventEmitter<AccessGateEvents> {
  private readonly deps: AccessGateDeps;
  private readonly limiter: SourceLimiter;
  private readonly recoveries: RecoveryLimiter;
  private readonly sessionChecks: ReadonlyMap<AccessPath, RecoveryLimiter>;
  private readonly grantChecks: ReadonlyMap<AccessPath, RecoveryLimiter>;
  private readonly refusals: AuditBatch;
  private readonly maxValiditySeconds: number;
  private readonly nowMs: () => number;

  constructor(deps: AccessGateDeps) {
    super();
    this.deps = deps;
    this.limiter = new SourceLimiter(deps.rateLimit);
    this.recoveries = new RecoveryLimiter(deps.recoveryLimit);
    const perPath = (defaults: RecoveryLimitOptions, options?: Partial<RecoveryLimitOptions>) =>
      new Map(PATHS.map((p) => [p, new RecoveryLimiter({ ...defaults, ...options })]));
    this.sessionChecks = perPath(DEFAULT_SESSION_CHECK_LIMIT, deps.sessionCheckLimit);
    this.grantChecks = perPath(DEFAULT_GRANT_CHECK_LIMIT, deps.grantCheckLimit);
    this.maxValiditySeconds = deps.maxValiditySeconds ?? DEFAULT_MAX_VALIDITY_SECONDS;
    this.nowMs = deps.nowMs ?? (() => performance.now());
    this.refusals = new AuditBatch(deps.store, deps.log, deps.auditBatch, this.nowMs);
  }

  /**
   * Checks a token that arrived for `deviceId` from `source` (MQTT client id or IP). A grant has its
   * nonce recorded: the same token never passes twice, even when two deliveries race. Never throws
   * for anything in the payload; throws LatchkeyError('STORE_FAILED') if the store cannot be read or
   * cannot record the grant, so nothing is actuated without its nonce on disk.
   */
  check(deviceId: bigint, payload: unknown, source: string, path: AccessPath = 'mqtt'): Verdict {
    const verdict = this.checkPending(deviceId, payload, source, path);
    if (!verdict.ok) return verdict;
    const { record, ...grant } = verdict.grant;
    try {
      this.deps.store.tx(record);
    } catch (e) {
      if (e instanceof TokenUsed) return e.verdict;
      throw e;
    }
    return { ok: true, grant };
  }

  /**
   * As check(), but the grant's durable record (its nonce used, its audit entry) is left to the caller:
   * `record()` inside the transaction that acts on the token, so the nonce and the energise write cost
   * one commit. record() throws a TokenUsed (with the refusal, already audited) when another delivery
   * of the token recorded it first; the caller must then act on nothing.
   */
  checkPending(
    deviceId: bigint,
    payload: unknown,
    source: string,
    path: AccessPath = 'mqtt',
  ): PendingVerdict {
    const src = String(source).slice(0, MAX_SOURCE_LENGTH);
    const t = this.nowMs();
    const limited = this.admit(deviceId, src, t);
    if (limited) return limited;

    const verdict = this.verify(deviceId, payload, t, path);
    if (!verdict.ok) return this.refuse(deviceId, src, verdict, t);
    return {
      ok: true,
      grant: { ...verdict.grant, record: () => this.record(deviceId, src, verdict.grant, t) },
    };
  }

  /** The nonce and the grant's audit entry; call inside a transaction. See checkPending(). */
  private record(deviceId: bigint, src: string, grant: Grant, t: number): void {
    const { store, clock } = this.deps;
    if (!store.useNonce(grant.digest, grant.validUntil)) {
      const lost: Verdict & { ok: false } = {
        ok: false,
        reason: 'nonce-used',
        message: 'this token was already used',
      };
      if (grant.requestId !== undefined) lost.requestId = grant.requestId;
      throw new TokenUsed(
        this.refuse(deviceId, src, lost, t, { rentalId: grant.rental.id, action: grant.action }),
      );
    }
    store.audit({
      at: clock.wall(),
      deviceId,
      rentalId: grant.rental.id,
      action: grant.action,
      actor: grant.rental.guest.toLowerCase(),
      outcome: 'ok',
      reason: `token granted (from ${src})`,
    });
    this.limiter.granted(src, t);
  }

  /**
   * Any message that arrived for `deviceId`: a session grant is checked (on chain for a smart-contract
   * wallet) and its key installed for the rental, with the grant's digest recorded as used in the same
   * transaction; anything else is a token, checked as check() does. Throws as check() does.
   */
  async submit(
    deviceId: bigint,
    payload: unknown,
    source: string,
    path: AccessPath = 'mqtt',
  ): Promise<Answer> {
    const answer = await this.submitPending(deviceId, payload, source, path);
    if (!answer.ok || !('grant' in answer)) return answer;
    const { record, ...grant } = answer.grant;
    try {
      this.deps.store.tx(record);
    } catch (e) {
      if (e instanceof TokenUsed) return e.verdict;
      throw e;
    }
    return { ok: true, grant };
  }

  /** As submit(), with a token's record left to the caller as checkPending() leaves it. */
  async submitPending(
    deviceId: bigint,
    payload: unknown,
    source: string,
    path: AccessPath = 'mqtt',
  ): Promise<PendingAnswer> {
    const decoded = decodePayload(payload);
    if (!decoded.ok || !isGrantShaped(decoded.value))
      return this.checkPending(deviceId, payload, source, path);
    const src = String(source).slice(0, MAX_SOURCE_LENGTH);
    const t = this.nowMs();
    const limited = this.admit(deviceId, src, t);
    if (limited) return limited;
    if (!this.deps.devices.has(deviceId))
      return { ok: false, reason: 'wrong-device', message: `device ${deviceId} is not on this gateway` };

    const { store, clock, separator } = this.deps;
    // Not the tokens' budget: bad wallet tokens for the rental must not lock its guest's grant out.
    const grantChecks = this.grantChecks.get(path) as RecoveryLimiter;
    let charged: bigint | undefined;
    const check = verifyGrant(decoded.value, {
      now: clock.now(),
      deviceId,
      separator,
      rental: (id) => store.getRental(id),
      nonceUsed: (digest) => store.nonceUsed(digest),
      sessionKey: (id) => store.getSessionKey(id),
      beforeRecovery: (rental) => {
        const admission = grantChecks.admit(rental.id, t);
        if (!admission.admitted) return admission.why;
        charged = rental.id;
        return undefined;
      },
      ...(this.deps.recover ? { recover: this.deps.recover } : {}),
    });
    let outcome: { ok: true; grant: SessionGrant } | GrantRefusal;
    if (check.ok === 'ask-wallet') {
      const walletCheck = this.deps.walletSignature;
      let yes = false;
      if (walletCheck) {
        try {
          yes = await walletCheck(check.grant.rental.guest, check.digest, check.signature);
        } catch (e) {
          this.deps.log.warn('access: wallet signature check failed', { error: e });
          return this.refuse(
            deviceId,
            src,
            {
              ...check.otherwise,
              reason: 'unavailable',
              message: 'the chain cannot be asked about a wallet contract right now; try again shortly',
            },
            t,
          );
        }
      }
      outcome = yes ? { ok: true, grant: check.grant } : check.otherwise;
    } else outcome = check;

    const tNow = this.nowMs();
    if (charged !== undefined) {
      if (outcome.ok) grantChecks.refund(charged, tNow);
      else if (outcome.reason === 'bad-signature' || outcome.reason === 'not-renter')
        grantChecks.failed(charged, tNow);
    }
    if (!outcome.ok) return this.refuse(deviceId, src, outcome, tNow);
    const { grant } = outcome;
    if (grant.current) return { ok: true, session: grant };
    const installed = this.deps.store.tx(() => {
      if (!this.deps.store.useNonce(grant.digest, grant.validUntil)) return false;
      this.deps.store.putSessionKey({
        rentalId: grant.rental.id,
        publicKey: grant.sessionKey,
        validUntil: grant.validUntil,
        grantDigest: grant.digest,
        grantedAt: this.deps.clock.wall(),
      });
      this.deps.store.audit({
        at: this.deps.clock.wall(),
        deviceId,
        rentalId: grant.rental.id,
        action: 'session',
        actor: grant.rental.guest.toLowerCase(),
        outcome: 'ok',
        reason: `session key ${grant.sessionKey.slice(0, 18)}… granted until ${grant.validUntil} (from ${src})`,
      });
      return true;
    });
    if (!installed) {
      const lost: GrantRefusal = { ok: false, reason: 'nonce-used', message: 'this grant was already used' };
      if (grant.requestId !== undefined) lost.requestId = grant.requestId;
      return this.refuse(deviceId, src, lost, tNow, { rentalId: grant.rental.id, action: 'session' });
    }
    this.limiter.granted(src, tNow);
    return { ok: true, session: grant };
  }

  /** Writes the buffered refusal audit entries now, and the summary of those over the budget (one tx). */
  flush(): void {
    this.refusals.flush();
  }

  /** Flushes the refusal audit; call before the store stops. Refusals after it are written one by one. */
  stop(): void {
    this.refusals.stop();
  }

  /** The per-source bucket and lockout; a refusal when the source is held back. */
  private admit(deviceId: bigint, src: string, t: number): (Verdict & { ok: false }) | undefined {
    const admission = this.limiter.admit(src, t);
    if (!admission.admitted) {
      // Not audited one by one: a flood must not turn into a flood of fsyncs. Counted and audited later.
      return {
        ok: false,
        reason: 'rate-limited',
        message: admission.lockedOut
          ? `too many refused tokens from this source; locked out for ${admission.retryAfterSeconds} s`
          : `too many tokens from this source; retry in ${admission.retryAfterSeconds} s`,
      };
    }
    if (admission.suppressed > 0)
      this.auditQuietly(
        deviceId,
        src,
        'rate-limited',
        `${admission.suppressed} tokens refused unchecked while the source was rate-limited or locked out`,
      );
    return undefined;
  }

  private verify(deviceId: bigint, payload: unknown, t: number, path: AccessPath): Verdict {
    // Size cap and JSON parsing before anything else touches the payload.
    const decoded = decodePayload(payload);
    if (!decoded.ok) return { ok: false, reason: 'malformed', message: decoded.message };
    const device = this.deps.devices.get(deviceId);
    if (!device)
      return { ok: false, reason: 'wrong-device', message: `device ${deviceId} is not on this gateway` };
    const { store, clock, separator } = this.deps;
    let recovered: bigint | undefined;
    let sessionChecked: bigint | undefined;
    const sessionChecks = this.sessionChecks.get(path) as RecoveryLimiter;
    const verdict = verifyAccess(decoded.value, {
      now: clock.now(),
      deviceId,
      kind: device.kind,
      separator,
      maxValiditySeconds: this.maxValiditySeconds,
      rental: (id) => store.getRental(id),
      nonceUsed: (digest) => store.nonceUsed(digest),
      beforeRecovery: (rental) => {
        const admission = this.recoveries.admit(rental.id, t);
        if (!admission.admitted) return admission.why;
        recovered = rental.id;
        return undefined;
      },
      sessionKey: (id) => store.getSessionKey(id),
      beforeSessionCheck: (rental) => {
        const admission = sessionChecks.admit(rental.id, t);
        if (!admission.admitted) return admission.why;
        sessionChecked = rental.id;
        return undefined;
      },
      ...(this.deps.recover ? { recover: this.deps.recover } : {}),
    });
    // A session key's own tokens hand their check back; failed ones only cost the bucket (no penalty:
    // a failed P-256 check costs ~0.1 ms, and a penalty would be the flooder's way to lock the guest out).
    if (sessionChecked !== undefined && verdict.ok) sessionChecks.refund(sessionChecked, t);
    if (recovered !== undefined && verdict.ok) this.recoveries.refund(recovered, t);
    else if (
      recovered !== undefined &&
      !verdict.ok &&
      (verdict.reason === 'bad-signature' || verdict.reason === 'not-renter') &&
      this.recoveries.failed(recovered, t)
    )
      this.deps.log.warn('access: rental on a tight signature-check budget after repeated bad signatures', {
        rentalId: recovered,
        deviceId,
      });
    return verdict;
  }

  private refuse<V extends (Verdict | GrantRefusal) & { ok: false }>(
    deviceId: bigint,
    src: string,
    verdict: V,
    t: number,
    about: { rentalId?: bigint; action?: string } = claimedOf(verdict),
  ): V {
    const { reason, message } = verdict;
    this.auditQuietly(deviceId, src, reason, message, about.rentalId, about.action);
    // An untrusted clock or an unreachable chain is the gateway's fault, and a rental over its signature budget may be someone
    // else's doing: neither counts towards the source's lockout.
    if (
      reason !== 'clock-untrusted' &&
      reason !== 'rate-limited' &&
      reason !== 'unavailable' &&
      this.limiter.rejected(src, t)
    ) {
      const alarm: LockoutAlarm = {
        source: src,
        deviceId,
        lockoutSeconds: this.limiter.lockoutSeconds,
        lastReason: reason,
      };
      this.deps.log.warn('access: source locked out after repeated bad tokens', { ...alarm });
      this.auditQuietly(
        deviceId,
        src,
        'rate-limited',
        `source locked out for ${alarm.lockoutSeconds} s after repeated bad tokens`,
        undefined,
        'lockout',
      );
      this.emit('lockout', alarm);
    }
    return verdict;
  }

  /**
   * Audits a refusal (batched, itemised within the global budget, else counted in a summary row); a
   * failing store must not turn a refusal into a crash (refused either way).
   */
  private auditQuietly(
    deviceId: bigint,
    actor: string,
    reason: RejectReason,
    message: string,
    rentalId?: bigint,
    action?: string,
  ): void {
    const kind = action === 'lockout' ? 'lockout' : reason;
    const itemised = this.refusals.add(
      {
        at: this.deps.clock.wall(),
        deviceId,
        ...(rentalId === undefined ? {} : { rentalId }),
        action: action ?? 'access',
        actor,
        outcome: 'refused',
        reason: `${reason}: ${message}`,
      },
      kind,
    );
    if (!itemised)
      this.deps.metrics?.inc(
        'latchkey_audit_refusals_not_itemised_total',
        'Refusals over the audit budget: counted in a summary audit row instead of one row each',
        { reason: kind },
      );
  }
}

function claimedOf(v: (Verdict | GrantRefusal) & { ok: false }): { rentalId?: bigint; action?: string } {
  const c = v.claimed;
  if (!c) return {};
  return 'action' in c ? c : { rentalId: c.rentalId, action: 'session' };
}
