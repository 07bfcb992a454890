// The guest page's session key for one rental, in the browser: a non-extractable P-256 key made with
// WebCrypto and kept in IndexedDB, the EIP-712 Session grant the wallet signs once, and session tokens
// the key signs for every later unlock, lock, on, off or checkout, with no wallet prompt. Also the
// wallet-signed Access token, for a browser without WebCrypto or a gateway that lost the key.
// It runs unchanged in Node 20 (WebCrypto is global there) with memorySessions() instead of IndexedDB.

import { accessDigest, domainSeparator, sessionDigest } from '../contracts/eip712.js';
import {
  ACCESS_TYPES,
  type Access,
  type Action,
  deviceOf,
  domain,
  EIP712_DOMAIN_TYPE,
  SESSION_TYPES,
  type Session,
  type TypedField,
} from '../contracts/typedData.js';

/** The rental a session is for: where it lives (chain, contract) and until when. */
export interface RentalRef {
  chainId: bigint | number;
  contract: string;
  rentalId: bigint;
  /** The rental's end, unix seconds: the session key is granted until then and forgotten after. */
  end: bigint | number;
}

/** What is kept per rental. The private key is a CryptoKey that cannot be exported, only used. */
export interface SessionRecord {
  /** `<chainId>:<contract>:<rentalId>`. */
  id: string;
  publicKey: `0x${string}`;
  privateKey: CryptoKey;
  validUntil: number;
  /** The gateway accepted the grant. */
  granted: boolean;
}

/** Where session records live: IndexedDB in a browser, memory elsewhere. */
export interface SessionStore {
  get(id: string): Promise<SessionRecord | undefined>;
  put(record: SessionRecord): Promise<void>;
  delete(id: string): Promise<void>;
  all(): Promise<SessionRecord[]>;
}

/** eth_signTypedData_v4's argument, before JSON.stringify: integers as decimal strings. */
export interface TypedDataV4 {
  types: Record<string, TypedField[]>;
  primaryType: string;
  domain: { name: string; version: string; chainId: string; verifyingContract: string };
  message: Record<string, string>;
}

/** The part of an EIP-1193 provider (window.ethereum) this module uses. */
export interface Eip1193 {
  request(args: { method: string; params?: unknown[] }): Promise<unknown>;
}

/** Wire forms, as the gateway reads them on MQTT and LAN HTTP (agent/access/token.ts). */
export interface WireAccess {
  rentalId: string;
  deviceId: string;
  action: Action;
  nonce: string;
  validUntil: number;
}
export type WireSessionToken = { access: WireAccess; sessionSignature: string; id?: string };
export type WireWalletToken = { access: WireAccess; signature: string; id?: string };
export type WireGrant = {
  session: { rentalId: string; deviceId: string; sessionKey: string; validUntil: number };
  signature: string;
  id?: string;
};

/** Refusals after which the page should sign with the wallet instead (and grant a new key). */
const WALLET_AGAIN = new Set(['no-session', 'bad-signature']);

const ECDSA_P256 = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const DB_STORE = 'sessions';

/** True when this browser can hold a session key (WebCrypto in a secure context, and IndexedDB). */
export function sessionKeysSupported(): boolean {
  return typeof crypto !== 'undefined' && crypto.subtle !== undefined && typeof indexedDB !== 'undefined';
}

/** True when a gateway's reply to a session token means: sign this one with the wallet. */
export function needsWallet(reply: { status: string; error?: { code: string } }): boolean {
  return reply.status === 'error' && reply.error !== undefined && WALLET_AGAIN.has(reply.error.code);
}

function toHex(bytes: Uint8Array): `0x${string}` {
  let out = '0x';
  for (const b of bytes) out += b.toString(16).padStart(2, '0');
  return out as `0x${string}`;
}

function randomNonce(): bigint {
  return BigInt(toHex(crypto.getRandomValues(new Uint8Array(16))));
}

function typedDomain(r: RentalRef): TypedDataV4['domain'] {
  const d = domain(r.chainId, r.contract);
  return {
    name: d.name,
    version: d.version,
    chainId: d.chainId.toString(),
    verifyingContract: d.verifyingContract,
  };
}

function wireAccess(a: Access): WireAccess {
  return {
    rentalId: a.rentalId.toString(),
    deviceId: a.deviceId.toString(),
    action: a.action,
    nonce: a.nonce.toString(),
    validUntil: Number(a.validUntil),
  };
}

function accessOf(r: RentalRef, action: Action, opts: TokenOptions): Access {
  const now = opts.now ?? Math.floor(Date.now() / 1000);
  return {
    rentalId: r.rentalId,
    deviceId: deviceOf(r.rentalId),
    action,
    nonce: opts.nonce ?? randomNonce(),
    validUntil: BigInt(now + (opts.validFor ?? 120)),
  };
}

export interface TokenOptions {
  /** Seconds the token is valid for (default 120; the gateway allows at most 300). */
  validFor?: number;
  nonce?: bigint;
  /** The request id, `<mqtt client id>/<n>` on MQTT. */
  id?: string;
  /** Unix seconds now (default the browser's clock). */
  now?: number;
}

/** Asks the wallet to sign typed data (one prompt) and returns the 0x signature. */
export async function signTypedDataV4(wallet: Eip1193, address: string, typed: TypedDataV4): Promise<string> {
  const sig = await wallet.request({
    method: 'eth_signTypedData_v4',
    params: [address, JSON.stringify(typed)],
  });
  if (typeof sig !== 'string') throw new Error('the wallet returned no signature');
  return sig;
}

/** The wallet path: the Access token's typed data for eth_signTypedData_v4, and its wire form. */
export function walletAccess(
  r: RentalRef,
  action: Action,
  opts: TokenOptions = {},
): { typedData: TypedDataV4; message(signature: string): WireWalletToken } {
  const a = accessOf(r, action, opts);
  const access = wireAccess(a);
  return {
    typedData: {
      types: { EIP712Domain: EIP712_DOMAIN_TYPE, Access: ACCESS_TYPES.Access },
      primaryType: 'Access',
      domain: typedDomain(r),
      message: { ...access, validUntil: String(access.validUntil) },
    },
    message: (signature) => ({ access, signature, ...(opts.id !== undefined ? { id: opts.id } : {}) }),
  };
}

/** One rental's session key: made once, granted once by the wallet, then signing every token. */
export class RentalSession {
  private constructor(
    readonly rental: RentalRef,
    private record: SessionRecord,
    private readonly store: SessionStore,
  ) {}

  /**
   * The rental's session: the one kept from before (a reload keeps it), or a new non-extractable key.
   * Records of rentals that have ended are deleted on the way.
   */
  static async open(
    rental: RentalRef,
    store: SessionStore,
    now = Math.floor(Date.now() / 1000),
  ): Promise<RentalSession> {
    for (const old of await store.all()) if (old.validUntil <= now) await store.delete(old.id);
    const id = `${BigInt(rental.chainId)}:${rental.contract.toLowerCase()}:${rental.rentalId}`;
    let record = await store.get(id);
    if (!record) {
      const pair = await crypto.subtle.generateKey(ECDSA_P256, false, ['sign', 'verify']);
      const raw = new Uint8Array(await crypto.subtle.exportKey('raw', pair.publicKey));
      record = {
        id,
        publicKey: toHex(raw),
        privateKey: pair.privateKey,
        validUntil: Number(rental.end),
        granted: false,
      };
      await store.put(record);
    }
    return new RentalSession(rental, record, store);
  }

  /** The gateway holds this key for the rental: tokens need no wallet. */
  get granted(): boolean {
    return this.record.granted;
  }

  get publicKey(): `0x${string}` {
    return this.record.publicKey;
  }

  /** The Session grant the wallet signs once (its typed data for eth_signTypedData_v4). */
  grantTypedData(): TypedDataV4 {
    const s = this.session();
    return {
      types: { EIP712Domain: EIP712_DOMAIN_TYPE, Session: SESSION_TYPES.Session },
      primaryType: 'Session',
      domain: typedDomain(this.rental),
      message: {
        rentalId: s.rentalId.toString(),
        deviceId: s.deviceId.toString(),
        sessionKey: s.sessionKey,
        validUntil: s.validUntil.toString(),
      },
    };
  }

  /** The grant as sent to the gateway, with the wallet's signature of grantTypedData(). */
  grantMessage(signature: string, id?: string): WireGrant {
    const s = this.session();
    return {
      session: {
        rentalId: s.rentalId.toString(),
        deviceId: s.deviceId.toString(),
        sessionKey: s.sessionKey,
        validUntil: Number(s.validUntil),
      },
      signature,
      ...(id !== undefined ? { id } : {}),
    };
  }

  /** Records that the gateway accepted the grant (call on its ok reply). */
  async markGranted(): Promise<void> {
    this.record = { ...this.record, granted: true };
    await this.store.put(this.record);
  }

  /** A token for `action` signed by the session key: ECDSA P-256 / SHA-256 of its EIP-712 digest. */
  async token(action: Action, opts: TokenOptions = {}): Promise<WireSessionToken> {
    const a = accessOf(this.rental, action, opts);
    const digest = new Uint8Array(accessDigest(this.separator(), a));
    const sig = await crypto.subtle.sign(
      { name: 'ECDSA', hash: 'SHA-256' },
      this.record.privateKey,
      digest.buffer,
    );
    return {
      access: wireAccess(a),
      sessionSignature: toHex(new Uint8Array(sig)),
      ...(opts.id !== undefined ? { id: opts.id } : {}),
    };
  }

  /** The grant's EIP-712 digest (what the wallet signs; for checks and logs). */
  grantDigest(): Uint8Array {
    return sessionDigest(this.separator(), this.session());
  }

  /** Deletes the key (after checkout, or to grant a new one). */
  async forget(): Promise<void> {
    await this.store.delete(this.record.id);
  }

  private session(): Session {
    return {
      rentalId: this.rental.rentalId,
      deviceId: deviceOf(this.rental.rentalId),
      sessionKey: this.record.publicKey,
      validUntil: BigInt(this.record.validUntil),
    };
  }

  private separator(): Uint8Array {
    return domainSeparator(domain(this.rental.chainId, this.rental.contract));
  }
}

/** Session records in memory (Node, tests, a browser without IndexedDB for one page's life). */
export function memorySessions(): SessionStore {
  const records = new Map<string, SessionRecord>();
  return {
    get: async (id) => records.get(id),
    put: async (r) => {
      records.set(r.id, r);
    },
    delete: async (id) => {
      records.delete(id);
    },
    all: async () => [...records.values()],
  };
}

/** Session records in this origin's IndexedDB: CryptoKeys are stored as they are, still unexportable. */
export function indexedDbSessions(name = 'latchkey-sessions'): SessionStore {
  let db: Promise<IDBDatabase> | undefined;
  const open = (): Promise<IDBDatabase> => {
    db ??= new Promise((resolve, reject) => {
      const req = indexedDB.open(name, 1);
      req.onupgradeneeded = () => req.result.createObjectStore(DB_STORE, { keyPath: 'id' });
      req.onsuccess = () => resolve(req.result);
      req.onerror = () => reject(req.error);
    });
    return db;
  };
  const run = async <T>(mode: IDBTransactionMode, op: (s: IDBObjectStore) => IDBRequest<T>): Promise<T> => {
    const tx = (await open()).transaction(DB_STORE, mode);
    const req = op(tx.objectStore(DB_STORE));
    return new Promise<T>((resolve, reject) => {
      tx.oncomplete = () => resolve(req.result);
      tx.onerror = () => reject(tx.error);
      tx.onabort = () => reject(tx.error);
    });
  };
  return {
    get: (id) => run('readonly', (s) => s.get(id) as IDBRequest<SessionRecord | undefined>),
    put: async (r) => {
      await run('readwrite', (s) => s.put(r));
    },
    delete: async (id) => {
      await run('readwrite', (s) => s.delete(id));
    },
    all: () => run('readonly', (s) => s.getAll() as IDBRequest<SessionRecord[]>),
  };
}

/** A reply envelope of the gateway (agent/mqtt/topics.ts), as far as this module reads it. */
export interface Reply {
  status: string;
  data?: unknown;
  error?: { code: string; message: string };
}

export interface ActOptions {
  rental: RentalRef;
  action: Action;
  wallet: Eip1193;
  /** The renter's address, as the wallet names it. */
  address: string;
  /** Sends one message (grant or token) to the device and resolves with the gateway's reply. */
  send(message: WireGrant | WireSessionToken | WireWalletToken): Promise<Reply>;
  /** Where the session key lives; undefined (or a browser without WebCrypto) = wallet tokens only. */
  store?: SessionStore;
  token?: TokenOptions;
  /** Called just before the wallet is asked: for the grant (once per rental) or for an Access token. */
  onWalletPrompt?(what: 'grant' | 'access'): void;
}

/**
 * What the guest page does for each button: with a session key (granted once per rental by one wallet
 * signature, kept across reloads) no wallet prompt; without one, or when the gateway no longer holds
 * it, the wallet signs the Access token for this action. `walletPrompts` counts what it asked of the wallet.
 */
export async function act(
  o: ActOptions,
): Promise<{ reply: Reply; walletPrompts: number; via: 'session' | 'wallet' }> {
  let walletPrompts = 0;
  // A store that cannot be opened (IndexedDB refused, e.g. a private window) means wallet tokens.
  const session =
    o.store && typeof crypto !== 'undefined' && crypto.subtle !== undefined
      ? await RentalSession.open(o.rental, o.store).catch(() => undefined)
      : undefined;
  if (session) {
    let usable = session.granted;
    if (!usable) {
      walletPrompts++;
      o.onWalletPrompt?.('grant');
      const signature = await signTypedDataV4(o.wallet, o.address, session.grantTypedData());
      const granted = await o.send(session.grantMessage(signature, o.token?.id && `${o.token.id}-grant`));
      if (granted.status === 'ok') {
        await session.markGranted();
        usable = true;
      }
    }
    if (usable) {
      const reply = await o.send(await session.token(o.action, o.token));
      if (!needsWallet(reply)) return { reply, walletPrompts, via: 'session' };
      await session.forget(); // replaced or lost: the next action grants a new key
    }
  }
  const w = walletAccess(o.rental, o.action, o.token);
  walletPrompts++;
  o.onWalletPrompt?.('access');
  const reply = await o.send(w.message(await signTypedDataV4(o.wallet, o.address, w.typedData)));
  return { reply, walletPrompts, via: 'wallet' };
}
