// Follows the contract's rental logs for this gateway's devices into the store: a polling cursor over
// eth_getLogs in bounded chunks, N confirmations (or the safe/finalized tag), reorg walk-back and
// revocation, RPC failover and stale-head detection. No subscriptions: they drop events silently.

import { EventEmitter } from 'node:events';
import { LatchkeyError } from '../errors.js';
import { type Logger, redact } from '../log.js';
import type { RentalStatus, Store, StoredRental } from '../store/store.js';
import { type ChainNotice, RentalLedger } from './apply.js';
import { type BlockHeader, commonAncestor, getHeader, HashWindow } from './blocks.js';
import {
  type DecodedLog,
  decodeRentalLog,
  type LogPosition,
  type RawLog,
  TOPICS,
  uintTopic,
} from './decode.js';
import { RpcClient, RpcError } from './rpc.js';
import { type DecodedSignerLog, decodeSignerLog, isSignerLog, SIGNER_TOPICS } from './signerLogs.js';

/** A number of blocks below the head, or a block tag the node resolves (post-merge chains). */
export type Confirmations = number | 'safe' | 'finalized';

export interface ChainWatcherOptions {
  rpcUrls: string[];
  contract: string;
  deviceIds: bigint[];
  confirmations: Confirmations;
  pollMs: number;
  /** Most blocks per eth_getLogs call; halved while a node answers "too many results". */
  chunkSize: number;
  /** First block to scan when the store has no cursor (the contract's deployment block). */
  startBlock: number;
  store: Store;
  log: Logger;
  /** Per-request timeout; default 10 s. */
  rpcTimeoutMs?: number;
  /** The head not advancing this long while polls succeed means a stuck node: switch. Default 3 min. */
  staleHeadMs?: number;
  /**
   * Blocks below the cursor whose hashes (and undo journal) the store keeps to walk a reorg back, also
   * across restarts; default 128.
   */
  reorgWindow?: number;
  /**
   * The gateway's receipt keys (addresses). When given, the watcher also follows the SignerChanged logs
   * of its devices and the SignerRevoked logs of these keys into the store (store.putSignerLog).
   */
  signerKeys?: string[];
}

/** A key log applied to the store, or `undone`: a reorg removed the key logs from `fromBlock` on. */
export type SignerNotice = DecodedSignerLog | { kind: 'undone'; fromBlock: number };

export interface ChainHead {
  number: number;
  timestamp: number;
}

export type ChainWatcherEvents = {
  /** A rental became open (rented, extended, or back after a reorg); it is in the store. */
  rental: [StoredRental];
  closed: [bigint, RentalStatus];
  /** Its Rented (or Extended) log is gone from the chain: stop granting it. */
  revoked: [bigint];
  /** The processed (confirmed) head; only ever increases. */
  head: [ChainHead];
  /**
   * A newer latest block by the node answering (not yet confirmed). Feeds the trusted clock: its
   * timestamp is close to real time, where the confirmed head's trails it by the confirmation depth
   * (about 13 min for 'finalized' on Ethereum) and, after downtime, by the backlog still to process.
   */
  latest: [ChainHead];
  /** Every RPC endpoint failed; cached confirmed rentals stay valid, new ones cannot arrive. */
  unavailable: [Error];
  /** An endpoint answers again after 'unavailable'. */
  available: [];
  /** A reorg deeper than the tracked window: the watcher has stopped and grants must stop. */
  alarm: [LatchkeyError];
  /**
   * A SignerChanged or SignerRevoked log was applied (it is in the store), or `undone`: a reorg
   * removed such logs from the store (what the chain still has comes back as it is rescanned).
   */
  signer: [SignerNotice];
};

const TOO_MANY_RESULTS =
  /more than [\d,]+ results|response size|too many (results|logs)|block range|range (is )?too (large|wide|big)|exceed(s|ed)? (the )?max|limited to a? ?[\d,]+|limit exceeded|query timeout/i;
const SHRUNK_CALLS_BEFORE_GROWING = 20;
/** Block headers fetched at once when checking the blocks a chunk's logs came from. */
const HEADER_CHECKS_IN_FLIGHT = 8;

export class ChainWatcher extends EventEmitter<ChainWatcherEvents> {
  private readonly opts: Required<ChainWatcherOptions>;
  private readonly rpc: RpcClient;
  private readonly ledger: RentalLedger;
  private readonly hashes: HashWindow;
  private readonly topics: (string[] | null)[];
  private readonly deviceSet: Set<bigint>;
  /** Lower-case gateway keys whose revocations are followed; undefined: key logs are not read. */
  private readonly signerKeys: Set<string> | undefined;
  private readonly address: string;
  private readonly log: Logger;
  private chunk: number;
  private callsAtChunk = 0;
  private cursor: { block: number; hash: string } | undefined;
  private lastHead = -1;
  private headSeenAt = 0;
  private headEmitted = -1;
  private available = true;
  private lastComplaint = '';
  private halted = false;
  private running = false;
  private stopping = false;
  private loaded = false;
  private timer: NodeJS.Timeout | undefined;
  private inFlight: Promise<void> | undefined;

  constructor(opts: ChainWatcherOptions) {
    super();
    const problems: string[] = [];
    if (!/^0x[0-9a-fA-F]{40}$/.test(opts.contract))
      problems.push(`contract: not an address: ${opts.contract}`);
    if (!Array.isArray(opts.deviceIds) || opts.deviceIds.length === 0)
      problems.push('deviceIds: at least one device is required');
    const c = opts.confirmations;
    if (!(c === 'safe' || c === 'finalized' || (Number.isSafeInteger(c) && c >= 0)))
      problems.push(`confirmations: expected an integer >= 0, 'safe' or 'finalized', got ${String(c)}`);
    if (!Number.isSafeInteger(opts.chunkSize) || opts.chunkSize < 1) problems.push('chunkSize: must be >= 1');
    if (!Number.isSafeInteger(opts.startBlock) || opts.startBlock < 0)
      problems.push('startBlock: must be >= 0');
    if (!(opts.pollMs > 0)) problems.push('pollMs: must be > 0');
    if (problems.length > 0)
      throw new LatchkeyError('CONFIG_INVALID', 'chain watcher: invalid options', {
        details: problems.join('\n'),
      });
    const { signerKeys, ...rest } = opts;
    this.opts = { rpcTimeoutMs: 10_000, staleHeadMs: 180_000, reorgWindow: 128, signerKeys: [], ...rest };
    this.signerKeys = signerKeys && new Set(signerKeys.map((k) => k.toLowerCase()));
    this.deviceSet = new Set(opts.deviceIds);
    this.log = opts.log.child('chain');
    this.rpc = new RpcClient({ urls: opts.rpcUrls, timeoutMs: this.opts.rpcTimeoutMs, log: this.log });
    this.ledger = new RentalLedger(opts.store);
    this.hashes = new HashWindow(opts.store, this.opts.reorgWindow);
    this.address = opts.contract.toLowerCase();
    this.topics = [
      [TOPICS.Rented, TOPICS.Extended, TOPICS.Cancelled, TOPICS.Settled],
      null,
      [...new Set(opts.deviceIds)].map(uintTopic),
    ];
    this.chunk = opts.chunkSize;
  }

  /** Loads the cursor, polls once (so the store is current when it resolves, if a node answers), then polls every pollMs. */
  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    this.stopping = false;
    this.load();
    this.log.info('chain watcher starting', {
      rpc: redact(this.rpc.url),
      contract: this.opts.contract,
      devices: this.opts.deviceIds,
      cursor: this.cursor?.block ?? null,
      confirmations: this.opts.confirmations,
    });
    await this.poll();
    this.schedule();
  }

  private load(): void {
    if (this.loaded) return;
    this.loaded = true;
    // The reorg window (block hashes, undo journal) is read from the store when a reorg needs it.
    this.cursor = this.opts.store.getCursor();
    this.headSeenAt = Date.now();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.stopping = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.inFlight;
  }

  /** Whether a deep reorg stopped the watcher (see 'alarm'). */
  get isHalted(): boolean {
    return this.halted;
  }

  /** The last block whose logs are applied, as persisted. */
  get processedBlock(): number | undefined {
    return this.cursor?.block;
  }

  /**
   * Runs one poll now (or joins the one in flight); nothing once stopped (a sweep in flight may still
   * call it). Failures are reported as events and logs, never thrown.
   */
  poll(): Promise<void> {
    if (!this.running) return Promise.resolve();
    this.inFlight ??= this.pollOnce().finally(() => {
      this.inFlight = undefined;
    });
    return this.inFlight;
  }

  /** Emits to listeners; one that throws is logged and cannot stop the watcher or skip other events. */
  private notify<K extends keyof ChainWatcherEvents>(event: K, ...args: ChainWatcherEvents[K]): void {
    try {
      (this.emit as (e: K, ...a: ChainWatcherEvents[K]) => boolean)(event, ...args);
    } catch (e) {
      this.log.error('chain event listener threw', { event, error: e });
    }
  }

  private schedule(): void {
    if (!this.running || this.halted) return;
    this.timer = setTimeout(() => {
      void this.poll().then(() => this.schedule());
    }, this.opts.pollMs);
  }

  private async pollOnce(): Promise<void> {
    if (this.halted) return;
    this.load();
    const touched = new Set<bigint>();
    const announced = new Set<bigint>();
    try {
      await this.sync(touched, announced);
      this.lastComplaint = '';
      if (!this.available) {
        this.available = true;
        this.log.info('chain available again', { rpc: redact(this.rpc.url) });
        this.notify('available');
      }
    } catch (e) {
      this.report(e);
    } finally {
      // Rentals a reorg touched and the rescan did not bring back: announce what they are now.
      for (const id of touched) {
        if (announced.has(id)) continue;
        const r = this.opts.store.getRental(id);
        if (!r) continue;
        if (r.status === 'revoked') this.notify('revoked', id);
        else if (r.status === 'open') this.notify('rental', r);
        else this.notify('closed', id, r.status);
      }
    }
  }

  private report(e: unknown): void {
    if (e instanceof LatchkeyError && e.code === 'CHAIN_UNAVAILABLE') {
      if (this.available) {
        this.available = false;
        this.log.error('chain unavailable: every RPC endpoint failed', { error: e.details ?? e.message });
        this.notify('unavailable', e);
      }
      return;
    }
    if (e instanceof RpcError || e instanceof TypeError || e instanceof LaggingNode) {
      // A node that lags, errs or answers nonsense is as bad as a dead one for us: try another.
      // The same complaint every poll goes to debug, so a node lagging for hours does not flood the log.
      const fields = { error: e.message, rpc: redact(this.rpc.url) };
      if (e.message === this.lastComplaint) this.log.debug('poll skipped', fields);
      else this.log.warn('poll skipped', fields);
      this.lastComplaint = e.message;
      this.rpc.rotate(e.message);
      return;
    }
    this.log.error('poll failed', { error: e });
  }

  /** The confirmed target block by this node's view, and its latest header. */
  private async target(): Promise<{ latest: BlockHeader; target: number } | undefined> {
    const latest = await getHeader(this.rpc, 'latest');
    if (!latest) throw new LaggingNode('node has no latest block');
    const now = Date.now();
    if (latest.number > this.lastHead) {
      this.lastHead = latest.number;
      this.headSeenAt = now;
      this.notify('latest', { number: latest.number, timestamp: latest.timestamp });
    } else if (now - this.headSeenAt >= this.opts.staleHeadMs) {
      this.headSeenAt = now;
      this.log.warn('chain head has not advanced; switching RPC endpoint', {
        head: latest.number,
        forMs: this.opts.staleHeadMs,
      });
      this.rpc.rotate('stale head');
    }
    const c = this.opts.confirmations;
    if (typeof c === 'number') return { latest, target: latest.number - c };
    const tagged = await getHeader(this.rpc, c);
    if (!tagged) return undefined; // the node has no safe/finalized block yet
    return { latest, target: Math.min(tagged.number, latest.number) };
  }

  private async sync(touched: Set<bigint>, announced: Set<bigint>): Promise<void> {
    const view = await this.target();
    if (!view) return;
    const { target } = view;
    let cursor = this.cursor;

    if (cursor) {
      // A node behind our cursor cannot tell us anything new; it never moves the cursor back.
      if (view.latest.number < cursor.block) {
        this.log.debug('node is behind the processed block; waiting', {
          head: view.latest.number,
          cursor: cursor.block,
        });
        return;
      }
      const header = await getHeader(this.rpc, cursor.block);
      if (!header) throw new LaggingNode(`node lacks processed block ${cursor.block}`);
      if (header.hash !== cursor.hash) {
        // Act on a fork only once it has our processed block as deep as we require for applying logs.
        if (target < cursor.block) throw new LaggingNode('node is on another fork above its confirmed head');
        cursor = await this.rewind(cursor, touched);
        if (!cursor && this.halted) return;
      } else if (this.headEmitted < 0) {
        this.emitHead(header);
      }
    }

    if (!cursor && this.opts.startBlock > 0 && this.opts.startBlock - 1 <= target) {
      // Anchor a fresh store at the block before the first one scanned, so a reorg of the very first
      // chunk still finds a common ancestor.
      const parent = await getHeader(this.rpc, this.opts.startBlock - 1);
      if (!parent) throw new LaggingNode(`node lacks block ${this.opts.startBlock - 1}`);
      this.commit([], parent);
      cursor = this.cursor;
    }

    let from = cursor ? cursor.block + 1 : this.opts.startBlock;
    while (from <= target && !this.stopping && !this.halted) {
      let to = Math.min(from + this.chunk - 1, target);
      let header = await getHeader(this.rpc, to);
      if (!header) throw new LaggingNode(`node lacks block ${to}`);
      let logs: RawLog[];
      for (;;) {
        try {
          logs = await this.getLogs(from, to);
          break;
        } catch (e) {
          if (!(e instanceof RpcError) || !TOO_MANY_RESULTS.test(e.message) || to === from) throw e;
          this.chunk = Math.max(1, Math.floor((to - from + 1) / 2));
          this.callsAtChunk = 0;
          this.log.info('eth_getLogs range too large; shrinking chunk', {
            chunk: this.chunk,
            error: e.message,
          });
          to = from + this.chunk - 1;
          header = await getHeader(this.rpc, to);
          if (!header) throw new LaggingNode(`node lacks block ${to}`);
        }
      }
      this.growChunk();
      const { rentals: decoded, signers } = this.decode(logs, header);
      await this.checkLogBlocks([...decoded, ...signers], header);
      const { notices: committed, signers: applied } = this.commit(decoded, header, signers);
      for (const s of applied) this.notify('signer', s);
      for (const n of committed) {
        if (n.kind === 'rental') {
          announced.add(n.rental.id);
          this.notify('rental', n.rental);
        } else if (n.kind === 'closed') {
          announced.add(n.rentalId);
          this.notify('closed', n.rentalId, n.status);
        }
      }
      this.emitHead(header);
      from = to + 1;
    }
  }

  private growChunk(): void {
    if (this.chunk >= this.opts.chunkSize) return;
    if (++this.callsAtChunk < SHRUNK_CALLS_BEFORE_GROWING) return;
    this.chunk = Math.min(this.opts.chunkSize, this.chunk * 2);
    this.callsAtChunk = 0;
  }

  private async getLogs(from: number, to: number): Promise<RawLog[]> {
    const range = {
      address: this.address,
      fromBlock: `0x${from.toString(16)}`,
      toBlock: `0x${to.toString(16)}`,
    };
    const rentals = this.rpc.call<RawLog[]>('eth_getLogs', [{ ...range, topics: this.topics }]);
    if (!this.signerKeys) return rentals;
    // Key logs index the device (SignerChanged) and the host and key (SignerRevoked) in different
    // topics, so one filter cannot narrow both: both events of the contract are read (a host's rare
    // admin calls) and filtered here, in decode().
    const keys = this.rpc.call<RawLog[]>('eth_getLogs', [
      { ...range, topics: [[SIGNER_TOPICS.SignerChanged, SIGNER_TOPICS.SignerRevoked]] },
    ]);
    const [a, b] = await Promise.all([rentals, keys]);
    if (!Array.isArray(a) || !Array.isArray(b)) throw new TypeError('eth_getLogs did not return an array');
    return [...a, ...b];
  }

  /**
   * Decodes and orders logs: rental logs, and key logs of this gateway's devices and keys. A log from
   * another fork than `end` (read before them) fails the chunk.
   */
  private decode(logs: RawLog[], end: BlockHeader): { rentals: DecodedLog[]; signers: DecodedSignerLog[] } {
    if (!Array.isArray(logs)) throw new TypeError('eth_getLogs did not return an array');
    const rentals: DecodedLog[] = [];
    const signers: DecodedSignerLog[] = [];
    for (const raw of logs) {
      if (raw.removed === true) continue;
      if (typeof raw.address !== 'string' || raw.address.toLowerCase() !== this.address) continue;
      let log: DecodedLog | DecodedSignerLog;
      try {
        log = isSignerLog(raw) ? decodeSignerLog(raw) : decodeRentalLog(raw);
      } catch (e) {
        this.log.warn('skipping undecodable log', { error: e, tx: raw.transactionHash, index: raw.logIndex });
        continue;
      }
      if (log.blockNumber > end.number)
        throw new TypeError(`eth_getLogs returned a log above block ${end.number}`);
      if (log.blockNumber === end.number && log.blockHash !== end.hash)
        throw new LaggingNode(`block ${end.number} changed while reading it`);
      if (log.kind === 'changed') {
        if (this.deviceSet.has(log.deviceId)) signers.push(log);
      } else if (log.kind === 'revoked') {
        if (this.signerKeys?.has(log.signer)) signers.push(log);
      } else rentals.push(log);
    }
    const order = (a: LogPosition, b: LogPosition) =>
      a.blockNumber - b.blockNumber || a.logIndex - b.logIndex;
    return { rentals: rentals.sort(order), signers: signers.sort(order) };
  }

  /**
   * Every block below `end` that holds one of the chunk's logs must have the log's hash on this node's
   * chain: a load-balanced endpoint whose backends disagree could otherwise hand us logs from another
   * fork, applied under a cursor hash they never belonged to. One header per distinct block with logs.
   */
  private async checkLogBlocks(logs: LogPosition[], end: BlockHeader): Promise<void> {
    const blocks = new Map<number, string>();
    for (const log of logs) {
      if (log.blockNumber === end.number) continue; // checked against `end` in decode()
      const seen = blocks.get(log.blockNumber);
      if (seen === undefined) blocks.set(log.blockNumber, log.blockHash);
      else if (seen !== log.blockHash)
        throw new LaggingNode(`eth_getLogs returned logs of two blocks at height ${log.blockNumber}`);
    }
    // A few requests at a time: a backlog can hold thousands of such blocks, one round trip each.
    const pending = [...blocks];
    const check = async () => {
      for (let next = pending.pop(); next; next = pending.pop()) {
        const [number, hash] = next;
        const header = await getHeader(this.rpc, number);
        if (!header) throw new LaggingNode(`node lacks block ${number}`);
        // Skips the poll (report() warns and tries another endpoint); the chunk is read again next time.
        if (header.hash !== hash)
          throw new LaggingNode(
            `eth_getLogs returned logs of block ${number} ${hash}, but the chain has ${header.hash}`,
          );
      }
    };
    await Promise.all(Array.from({ length: Math.min(HEADER_CHECKS_IN_FLIGHT, pending.length) }, check));
  }

  /**
   * Applies a chunk, records its blocks in the reorg window and moves the cursor in one store
   * transaction; returns the notices to emit and the key logs newly applied.
   */
  private commit(
    logs: DecodedLog[],
    end: BlockHeader,
    signerLogs: DecodedSignerLog[] = [],
  ): { notices: ChainNotice[]; signers: DecodedSignerLog[] } {
    const store = this.opts.store;
    const floor = end.number - this.opts.reorgWindow;
    const applied: DecodedSignerLog[] = [];
    const result = store.tx(() => {
      const r = this.ledger.apply(logs);
      for (const s of signerLogs) if (store.putSignerLog(s)) applied.push(s);
      store.setCursor(end.number, end.hash);
      this.hashes.record(end.number, [...logs, ...signerLogs]);
      if (floor > 0) {
        store.pruneLogsBefore(floor);
        this.ledger.prune(floor);
      }
      return r;
    });
    this.cursor = { block: end.number, hash: end.hash };
    if (result.applied > 0 || result.duplicates > 0 || result.unknown > 0)
      this.log.debug('applied logs', { to: end.number, ...result, notices: result.notices.length });
    return { notices: result.notices, signers: applied };
  }

  /**
   * The cursor block's hash changed: walk back to the newest block the chain agrees with, undo what the
   * removed blocks did (revoking rentals they created), and move the cursor there for a rescan.
   */
  private async rewind(
    cursor: { block: number; hash: string },
    touched: Set<bigint>,
  ): Promise<{ block: number; hash: string } | undefined> {
    const ancestor = await commonAncestor(this.rpc, this.hashes, cursor.block);
    if (!ancestor || ancestor.number < cursor.block - this.opts.reorgWindow) {
      this.halted = true;
      const alarm = new LatchkeyError('CHAIN_UNAVAILABLE', 'reorg deeper than the tracked window', {
        details: `processed block ${cursor.block} (${cursor.hash}) is no longer on the chain and no block in the last ${this.opts.reorgWindow} agrees; stopping rather than guessing`,
      });
      this.log.error('deep reorg: chain watcher stopped; grants must stop', { cursor: cursor.block });
      this.notify('alarm', alarm);
      return undefined;
    }
    const chainHashes = new Map<number, string>();
    for (const block of this.ledger.blocksAbove(ancestor.number)) {
      const header = await getHeader(this.rpc, block);
      if (!header) throw new LaggingNode(`node lacks block ${block}`);
      chainHashes.set(block, header.hash);
    }
    const store = this.opts.store;
    let signerLogsUndone = 0;
    const ids = store.tx(() => {
      const undone = this.ledger.undoTo(ancestor.number, chainHashes);
      store.forgetLogsFrom(ancestor.number + 1);
      signerLogsUndone = store.forgetSignerLogsFrom(ancestor.number + 1);
      this.hashes.forgetAbove(ancestor.number);
      store.setCursor(ancestor.number, ancestor.hash);
      return undone;
    });
    for (const id of ids) touched.add(id);
    this.cursor = { block: ancestor.number, hash: ancestor.hash };
    if (signerLogsUndone > 0) this.notify('signer', { kind: 'undone', fromBlock: ancestor.number + 1 });
    this.log.warn('reorg: rescanning from the common ancestor', {
      was: cursor.block,
      ancestor: ancestor.number,
      depth: cursor.block - ancestor.number,
      rentalsTouched: ids.size,
    });
    return this.cursor;
  }

  private emitHead(header: BlockHeader): void {
    if (header.number <= this.headEmitted) return;
    this.headEmitted = header.number;
    this.notify('head', { number: header.number, timestamp: header.timestamp });
  }
}

/** The node is behind or mid-reorg: skip this poll (and try another node), never rewind for it. */
class LaggingNode extends Error {
  override readonly name = 'LaggingNode';
}
