// The guest page: what the sticker's URL (/d/<device>) opens. Shows the device and its price, rents it
// with one payable transaction from the guest's wallet, follows the confirmations, signs each action
// (unlock / lock / power on / off / checkout) with the rental's session key, which the wallet grants
// once, or with the wallet itself where no key can be kept, sends it to the agent, and ends with the
// checkout's numbers as the chain has them. `/` lists the gateway's devices.

import type { ReplyEnvelope, StateMessage } from '../../agent/mqtt/topics.js';
import type { Action, Rental } from '../../contracts/typedData.js';
import type { RentalRef, SessionStore } from '../session.js';
import {
  Chain,
  cancelledOf,
  type GuestRental,
  guestRentals,
  httpRpc,
  latchkey,
  rentalOfReceipt,
} from './chain.js';
import { clock, eth, ethShort, shortAddress, shortHash } from './format.js';
import { type GatewayInfo, loadInfo } from './info.js';
import { AgentLink, type Outgoing, type Sent, type Via } from './link.js';
import {
  cancelCall,
  durations,
  extendCall,
  type Offer,
  type Quote,
  quote,
  readOffer,
  rentCall,
} from './pricing.js';
import { mountScreens, render, say, tick } from './screens.js';
import { chainName, type Summary, state, symbol } from './state.js';
import { preferredLang, replyText, setLang, t } from './strings.js';
import {
  connectWallet,
  discoverWallets,
  type Eip1193Provider,
  ensureChain,
  sendTransaction,
  type WalletChoice,
  WalletError,
} from './wallet.js';
import { walletWords } from './walletWords.js';

mountScreens(document.getElementById('app') as HTMLElement, {
  startConnect,
  choose,
  pickDuration,
  rent,
  act,
  extend,
  checkout,
  cancel,
  useDevWallet: async () => {
    const info = state.info as GatewayInfo;
    // A URL, not a module path: the bundler leaves it alone, so the page never carries this code.
    const url = '/dev-wallet.js';
    const { devWallet } = (await import(url)) as typeof import('./devWallet.js');
    await choose(devWallet(info, info.devWalletKey as string));
  },
  rentAgain: async () => {
    state.summary = undefined;
    state.screen = 'device';
    await refreshOffer();
  },
});

function provider(): Eip1193Provider {
  if (!state.wallet) throw new WalletError('locked', 'no wallet connected');
  return state.wallet.provider;
}

/** Follows the wallet's account: another account sees its own rentals, none is a disconnect. */
function follow(w: WalletChoice): void {
  w.provider.on?.('accountsChanged', (accounts) => {
    if (state.wallet !== w) return;
    const next = (accounts as string[] | undefined)?.[0];
    state.address = next;
    state.current = undefined;
    state.keys = undefined;
    if (state.screen === 'rental') state.screen = 'device';
    render();
    if (next) void afterConnect().catch((e: unknown) => say(walletWords(e), 'error'));
  });
}

async function startConnect(): Promise<void> {
  const wallets = state.wallets ?? [];
  const only = wallets[0];
  if (wallets.length === 1 && only) return choose(only);
  state.picking = true;
  render();
}

async function choose(w: WalletChoice): Promise<void> {
  state.picking = false;
  state.busy = true;
  render();
  try {
    state.wallet = w;
    state.address = await connectWallet(w.provider);
    follow(w);
    await afterConnect();
  } catch (e) {
    state.wallet = undefined;
    state.address = undefined;
    say(walletWords(e), 'error');
  } finally {
    state.busy = false;
    render();
  }
}

async function onRightChain(): Promise<void> {
  const info = state.info as GatewayInfo;
  let switched = false;
  await ensureChain(
    provider(),
    {
      chainId: BigInt(info.chainId),
      chainName: chainName(),
      rpcUrls: info.rpcUrl ? [info.rpcUrl] : [],
      nativeCurrency: { name: 'Ether', symbol: symbol(), decimals: 18 },
    },
    (step) => {
      switched = true;
      say(
        step === 'add' ? t('wAddChain', { chain: chainName() }) : t('wSwitchChain', { chain: chainName() }),
      );
    },
  );
  // Done: the step's words would only be noise now.
  if (switched) state.note = undefined;
}

async function afterConnect(): Promise<void> {
  const info = state.info as GatewayInfo;
  // On the gateway's chain at once: the guest learns now, not at the payment, that the wallet must switch.
  await onRightChain();
  if (!state.chain) {
    state.chain = new Chain((method, params) => provider().request({ method, params }), info.contract);
    await refreshOffer();
  }
  await refreshBalance();
  await findRental();
}

async function refreshBalance(): Promise<void> {
  if (state.chain && state.address) state.balance = await state.chain.balance(state.address);
}

// ---- chain ----------------------------------------------------------------------------------------

async function refreshOffer(): Promise<void> {
  const chain = state.chain;
  if (!chain || state.deviceId === undefined) return render();
  state.offer = await readOffer(chain, state.deviceId);
  const fit = durations(state.offer);
  if (!fit.includes(state.seconds)) state.seconds = fit.includes(3600) ? 3600 : (fit[0] as number);
  state.quote = await quote(chain, state.offer, state.seconds);
  render();
}

async function pickDuration(seconds: number): Promise<void> {
  state.seconds = seconds;
  render();
  await refreshOffer();
}

/** The guest's latest rental of this device from the chain's logs: open → the rental, else nothing. */
async function findRental(): Promise<void> {
  const chain = state.chain;
  if (!chain || !state.address || state.deviceId === undefined) return;
  const all = await guestRentals(chain, state.deviceId, state.address);
  const now = await chain.now();
  const open = all.filter((r) => !r.settled && !r.cancelled && r.rental.end > now).at(-1);
  state.past = all.filter((r) => r.settled).at(-1);
  if (open) {
    state.current = open;
    state.screen = 'rental';
    await Promise.all([showKeys(open), watch()]);
  }
  render();
}

async function watch(): Promise<void> {
  const link = state.link as AgentLink;
  const via = await link.watchState((state.deviceId as bigint).toString(), (s) => {
    state.relay = s;
    render();
  });
  if (via === 'lan' && link.blocked.some((b) => b.what === 'broker' && b.reason === 'unreachable'))
    say(t('brokerDown'));
  explainBlocked();
}

function explainBlocked(): void {
  const link = state.link as AgentLink;
  const mixed = link.blocked.find((b) => b.reason === 'mixed-content');
  if (mixed)
    say(
      t('mixedContent', { what: mixed.what === 'broker' ? 'broker' : 'LAN HTTP', url: mixed.url }),
      'error',
    );
}

async function waitMined(hash: string): Promise<NonNullable<Awaited<ReturnType<Chain['receipt']>>>> {
  const chain = state.chain as Chain;
  for (;;) {
    const r = await chain.receipt(hash);
    if (r) return r;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

async function checkFunds(value: bigint, data: string): Promise<boolean> {
  const chain = state.chain as Chain;
  const from = state.address as string;
  const [balance, gasPrice] = await Promise.all([chain.balance(from), chain.gasPrice()]);
  let gas = 200_000n;
  try {
    gas = await chain.estimateGas({ from, to: chain.contract, data, value });
  } catch (e) {
    // the call itself fails (a busy device, an inactive one): say why
    if (balance >= value) throw e;
  }
  const fee = gas * gasPrice;
  if (balance >= value + fee) return true;
  say(
    t('wNoFunds', {
      deposit: eth(value, symbol()),
      gas: ethShort(fee, symbol()),
      balance: ethShort(balance, symbol()),
    }),
    'error',
  );
  return false;
}

async function rent(): Promise<void> {
  const chain = state.chain as Chain;
  const offer = state.offer as Offer;
  const q = state.quote as Quote;
  state.note = undefined;
  await busyWith(
    async () => {
      await onRightChain();
      const call = rentCall(offer, q);
      if (!(await checkFunds(call.value, call.data))) return;
      state.screen = 'renting';
      state.progress = [t('stepSign')];
      render();
      const hash = await sendTransaction(provider(), {
        from: state.address as string,
        to: chain.contract,
        data: call.data,
        value: call.value,
      });
      state.progress = [t('stepSign'), t('stepMined', { hash: shortHash(hash) })];
      render();
      const receipt = await waitMined(hash);
      if (receipt.status !== 1) throw new Error(`transaction ${hash} reverted`);
      const rental = rentalOfReceipt(receipt);
      if (!rental) throw new Error(`transaction ${hash} rented nothing`);
      const need = state.info?.confirmations ?? 1;
      for (;;) {
        const n = (await chain.blockNumber()) - receipt.blockNumber;
        state.progress = [
          t('stepSign'),
          t('stepMined', { hash: shortHash(hash) }),
          t('stepConfirmations', { n: Math.min(n, need), need }),
        ];
        render();
        if (n >= need) break;
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
      state.progress.push(t('stepReady'));
      state.current = { rental, rentedIn: hash, rentedAtBlock: receipt.blockNumber, extendedIn: [] };
      state.screen = 'rental';
      await Promise.all([showKeys(state.current), refreshBalance(), watch()]);
      say(t('stepReady'), 'ok');
    },
    () => {
      if (state.screen === 'renting') state.screen = 'device';
    },
  );
}

async function extend(): Promise<void> {
  const chain = state.chain as Chain;
  const cur = state.current as GuestRental;
  await busyWith(async () => {
    await onRightChain();
    const call = extendCall(state.offer as Offer, cur.rental, 3600);
    if (!(await checkFunds(call.value, call.data))) return;
    const hash = await sendTransaction(provider(), {
      from: state.address as string,
      to: chain.contract,
      data: call.data,
      value: call.value,
    });
    const receipt = await waitMined(hash);
    const next = rentalOfReceipt(receipt, cur.rental);
    if (receipt.status !== 1 || !next) throw new Error(`transaction ${hash} reverted`);
    state.current = { ...cur, rental: next, extendedIn: [...cur.extendedIn, hash] };
    await refreshBalance();
    say(t('endsAt', { time: clock(next.end) }), 'ok');
  });
}

// ---- access tokens --------------------------------------------------------------------------------

function viaWords(via: Via): string {
  return via === 'broker' ? t('viaBroker') : t('viaLan');
}

type SessionModule = typeof import('../session.js');
let sessionModule: Promise<SessionModule> | undefined;

/** guest/session.ts, loaded when a rental is shown: the page's first load does not carry it. */
function sessions(): Promise<SessionModule> {
  sessionModule ??= import('../session.js').catch((e: unknown) => {
    sessionModule = undefined; // a chunk that failed to load is fetched again next time
    throw e;
  });
  return sessionModule;
}

let keyStore: SessionStore | undefined;
let keyStoreChosen = false;

/** Where this browser keeps session keys: IndexedDB, or nothing (every action signed by the wallet). */
function keys(m: SessionModule): SessionStore | undefined {
  if (!keyStoreChosen) {
    keyStore = m.sessionKeysSupported() ? m.indexedDbSessions() : undefined;
    keyStoreChosen = true;
  }
  return keyStore;
}

function rentalRef(cur: GuestRental): RentalRef {
  const info = state.info as GatewayInfo;
  return {
    chainId: BigInt(info.chainId),
    contract: info.contract,
    rentalId: cur.rental.id,
    end: cur.rental.end,
  };
}

/**
 * Finds whether the next action needs the wallet: once per rental, never again, or every time (shown
 * with the rental at the caller's next render).
 */
async function showKeys(cur: GuestRental): Promise<void> {
  try {
    const m = await sessions();
    const store = keys(m);
    const next = store
      ? (await m.RentalSession.open(rentalRef(cur), store)).granted
        ? 'session'
        : 'once'
      : 'wallet';
    if (state.current === cur) state.keys = next;
  } catch {
    // IndexedDB refused (or the chunk did not load): the wallet signs, as act() falls back by itself
    if (state.current === cur) state.keys = 'wallet';
  }
}

/** Deletes the rental's session key (after checkout: it can sign nothing more). */
async function forgetKey(cur: GuestRental): Promise<void> {
  const m = await sessions();
  const store = keys(m);
  if (store) await (await m.RentalSession.open(rentalRef(cur), store)).forget();
}

/** Sends one message; sends it again while the gateway has not seen the rental yet. */
async function sendSoon(message: Outgoing, cur: GuestRental): Promise<Sent> {
  const link = state.link as AgentLink;
  const validUntil = 'access' in message ? message.access.validUntil : message.session.validUntil;
  say(t('sending'));
  for (let attempt = 0; ; attempt++) {
    let sent: Sent;
    try {
      sent = await link.send(message);
    } catch {
      throw new Error(t('noRoute'));
    }
    const { reply } = sent;
    // Right after the confirmations the gateway may still be a poll behind, and a rental that starts
    // now may start a second after the gateway's clock: both pass by themselves within seconds.
    const code = reply.status === 'error' ? reply.error.code : undefined;
    const soon = Number(cur.rental.start) - Date.now() / 1000 < 5;
    const passing = code === 'unknown-rental' || (code === 'not-started' && soon);
    if (passing && attempt < 10 && validUntil > Date.now() / 1000 + 5) {
      say(t('retrying'));
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      continue;
    }
    return sent;
  }
}

/**
 * Does `action` for the current rental: signed by the rental's session key (the wallet grants it once,
 * at the first action), or by the wallet when this browser cannot keep a key or the gateway lost it.
 */
async function signAndSend(action: Action): Promise<{ reply: ReplyEnvelope; via: Via }> {
  const link = state.link as AgentLink;
  const cur = state.current as GuestRental;
  await onRightChain();
  if (cur.rental.guest.toLowerCase() !== (state.address as string).toLowerCase())
    throw new Error(
      t('wWrongAccount', {
        owner: shortAddress(cur.rental.guest),
        address: shortAddress(state.address as string),
      }),
    );
  const m = await sessions();
  const store = keys(m);
  let last: Sent | undefined;
  const out = await m.act({
    rental: rentalRef(cur),
    action,
    wallet: provider(),
    address: state.address as string,
    ...(store ? { store } : {}),
    onWalletPrompt: (what) => say(what === 'grant' ? t('signSession') : t('signToken')),
    send: async (message) => {
      last = await sendSoon({ ...message, id: link.nextId() }, cur);
      return last.reply;
    },
  });
  if (state.current === cur) state.keys = out.via === 'session' ? 'session' : store ? 'once' : 'wallet';
  return last as Sent;
}

async function act(action: Action): Promise<void> {
  await busyWith(async () => {
    const { reply, via } = await signAndSend(action);
    if (reply.status === 'error')
      return say(`${replyText(reply.error.code, reply.error.message)} (${viaWords(via)})`, 'error');
    const data = reply.data as { state?: StateMessage };
    if (data.state) state.relay = { ...data.state, rentalId: String(data.state.rentalId ?? '') };
    const pulse = state.info?.devices.find((d) => d.id === state.deviceId?.toString())?.pulseSeconds ?? 5;
    const words =
      action === 'unlock'
        ? t('unlockedFor', { n: pulse })
        : action === 'lock'
          ? t('locked')
          : action === 'on'
            ? t('poweredOn')
            : t('poweredOff');
    say(`${words} (${viaWords(via)})`, 'ok');
  });
}

interface ReceiptReply {
  receipt?: { receipt: { rentalId: string; secondsUsed: string; energyWh: string }; signature: string };
}

async function settledLog(rental: Rental): Promise<GuestRental['settled']> {
  const all = await guestRentals(state.chain as Chain, state.deviceId as bigint, rental.guest);
  return all.find((r) => r.rental.id === rental.id)?.settled;
}

async function checkout(): Promise<void> {
  const chain = state.chain as Chain;
  const cur = state.current as GuestRental;
  await busyWith(async () => {
    const { reply, via } = await signAndSend('checkout');
    if (reply.status === 'error' && reply.error.code !== 'rental-not-open')
      return say(`${replyText(reply.error.code, reply.error.message)} (${viaWords(via)})`, 'error');
    say(t('checkingOut'));
    void forgetKey(cur).catch(() => undefined);
    const signed = reply.status === 'ok' ? (reply.data as ReceiptReply).receipt : undefined;
    let settled = await settledLog(cur.rental);
    let failed: unknown;
    if (!settled && signed) {
      const [open] = (await chain.call('isOpen', [cur.rental])) as unknown as [boolean];
      if (open) {
        say(t('checkoutTx'));
        const data = latchkey.encodeFunctionData('checkout', [
          cur.rental,
          {
            rentalId: BigInt(signed.receipt.rentalId),
            secondsUsed: BigInt(signed.receipt.secondsUsed),
            energyWh: BigInt(signed.receipt.energyWh),
          },
          signed.signature,
        ]);
        try {
          const hash = await sendTransaction(provider(), {
            from: state.address as string,
            to: chain.contract,
            data,
          });
          say(t('checkoutWait', { hash: shortHash(hash) }));
          await waitMined(hash);
        } catch (e) {
          // The gateway submits the same receipt itself and may have been first (its transaction
          // may still be pending): that is no failure, and the wait below finds its Settled log.
          failed = e;
        }
      }
    }
    for (let i = 0; !settled && i < 60; i++) {
      settled = await settledLog(cur.rental);
      if (!settled) await new Promise((resolve) => setTimeout(resolve, 500));
    }
    if (!settled) throw failed ?? new Error(t('noReply'));
    // Who sent the settling transaction: the guest's wallet, or the gateway with its own copy.
    const sentBy = await txSender(settled.txHash);
    const byGateway = sentBy?.toLowerCase() !== (state.address as string).toLowerCase();
    const summary: Summary = {
      rental: cur.rental,
      charge: settled.charge,
      refund: settled.refund,
      ...(signed
        ? { secondsUsed: BigInt(signed.receipt.secondsUsed), energyWh: BigInt(signed.receipt.energyWh) }
        : {}),
      byGateway,
      txs: [
        { label: 'txRent', hash: cur.rentedIn },
        ...cur.extendedIn.map((hash) => ({ label: 'txExtend' as const, hash })),
        { label: 'txCheckout', hash: settled.txHash },
      ],
    };
    await showSummary(summary);
  });
}

/** Cancels the current rental before its start: the deposit comes back less the fee the page showed. */
async function cancel(): Promise<void> {
  const chain = state.chain as Chain;
  const cur = state.current as GuestRental;
  await busyWith(async () => {
    await onRightChain();
    const call = cancelCall(cur.rental);
    if (!(await checkFunds(call.value, call.data))) return;
    say(t('cancelling'));
    const hash = await sendTransaction(provider(), {
      from: state.address as string,
      to: chain.contract,
      data: call.data,
    });
    say(t('cancelWait', { hash: shortHash(hash) }));
    const receipt = await waitMined(hash);
    const cancelled = cancelledOf(receipt);
    if (receipt.status !== 1 || !cancelled) throw new Error(`transaction ${hash} reverted`);
    void forgetKey(cur).catch(() => undefined);
    await showSummary({
      rental: cur.rental,
      charge: cancelled.fee,
      refund: cancelled.refund,
      byGateway: false,
      cancelled: true,
      txs: [
        { label: 'txRent', hash: cur.rentedIn },
        ...cur.extendedIn.map((hash) => ({ label: 'txExtend' as const, hash })),
        { label: 'txCancel', hash },
      ],
    });
  });
}

/** Ends the current rental on the page: its summary, as the chain has it. */
async function showSummary(summary: Summary): Promise<void> {
  state.summary = summary;
  state.current = undefined;
  state.keys = undefined;
  state.screen = 'summary';
  await refreshBalance();
  state.note = undefined;
}

/** Runs one of the guest's actions with the buttons disabled; a failure is said in the guest's words. */
async function busyWith(work: () => Promise<void>, onError?: () => void): Promise<void> {
  state.busy = true;
  render();
  try {
    await work();
  } catch (e) {
    onError?.();
    say(
      e instanceof WalletError || (e as { code?: unknown })?.code !== undefined
        ? walletWords(e)
        : (e as Error).message,
      'error',
    );
  } finally {
    state.busy = false;
    render();
  }
}

async function txSender(hash: string): Promise<string | undefined> {
  const tx = (await (state.chain as Chain).request('eth_getTransactionByHash', [hash])) as {
    from?: string;
  } | null;
  return tx?.from;
}

// ---- start ----------------------------------------------------------------------------------------

/** The gateway's /health, where this page can reach it; unknown (not shown) elsewhere. */
async function health(lanBase: string | undefined): Promise<void> {
  if (!lanBase || state.link?.blocked.some((b) => b.what === 'lan')) return;
  try {
    const res = await fetch(`${lanBase}/health`, { cache: 'no-store' });
    state.gatewayOnline = res.ok;
  } catch {
    state.gatewayOnline = false;
  }
}

async function start(): Promise<void> {
  setLang(preferredLang(location.search, navigator.languages ?? [navigator.language]));
  render();
  const walletsFound = discoverWallets();
  let loaded: Awaited<ReturnType<typeof loadInfo>>;
  try {
    loaded = await loadInfo(location);
  } catch (e) {
    state.fatal = t('gatewayUnreachable', { why: (e as Error).message });
    state.screen = 'error';
    return render();
  }
  const info = loaded.info;
  state.info = info;
  state.link = new AgentLink(info, loaded.lanBase, location.protocol);
  if (info.rpcUrl) state.chain = new Chain(httpRpc(info.rpcUrl), info.contract);
  const m = /^\/d\/([1-9][0-9]*)\/?$/.exec(location.pathname);
  await health(loaded.lanBase);
  if (!m) {
    state.screen = 'list';
    return render();
  }
  state.deviceId = BigInt(m[1] as string);
  if (!info.devices.some((d) => d.id === m[1])) {
    state.fatal = t('unknownDevice', { device: m[1] as string });
    state.screen = 'error';
    return render();
  }
  state.screen = 'device';
  render();
  await refreshOffer().catch((e: unknown) => say((e as Error).message, 'error'));
  state.wallets = await walletsFound;
  render();
  // A wallet that already let this page see its account: reconnect quietly (no prompt) and find the
  // guest's rental from the chain's logs.
  for (const w of state.wallets) {
    const accounts = (await w.provider.request({ method: 'eth_accounts' }).catch(() => [])) as string[];
    if (accounts[0]) {
      state.wallet = w;
      state.address = accounts[0];
      follow(w);
      await afterConnect().catch((e: unknown) => say(walletWords(e), 'error'));
      break;
    }
  }
  explainBlocked();
  setInterval(tick, 1_000);
}

void start();
