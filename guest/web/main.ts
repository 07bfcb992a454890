// The guest page: what the sticker's URL (/d/<device>) opens. Shows the device and its price, rents it
// with one payable transaction from the guest's wallet, follows the confirmations, signs access tokens
// (unlock / power on / off / checkout) and sends them to the agent, and ends with the checkout's numbers
// as the chain has them. `/` lists the gateway's devices.

import type { StateMessage } from '../../agent/mqtt/topics.js';
import type { Action, Rental } from '../../contracts/typedData.js';
import { Chain, type GuestRental, guestRentals, httpRpc, latchkey, rentalOfReceipt } from './chain.js';
import { h } from './dom.js';
import { clock, duration, eth, ethShort, shortAddress, shortHash } from './format.js';
import { type GatewayInfo, loadInfo } from './info.js';
import { AgentLink, type Via } from './link.js';
import { durations, extendCall, type Offer, type Quote, quote, readOffer, rentCall } from './pricing.js';
import { currentLang, preferredLang, replyText, type StringKey, setLang, t } from './strings.js';
import { accessFor, typedDataJson } from './token.js';
import {
  connectWallet,
  deepLinks,
  discoverWallets,
  type Eip1193Provider,
  ensureChain,
  sendTransaction,
  signTypedData,
  type WalletChoice,
  WalletError,
  walletChainId,
  walletError,
} from './wallet.js';

type Screen = 'loading' | 'list' | 'device' | 'renting' | 'rental' | 'summary' | 'error';

interface Summary {
  rental: Rental;
  charge: bigint;
  refund: bigint;
  secondsUsed?: bigint;
  energyWh?: bigint;
  byGateway: boolean;
  txs: { label: string; hash: string }[];
}

interface Note {
  text: string;
  tone: 'info' | 'ok' | 'error';
}

const state = {
  screen: 'loading' as Screen,
  info: undefined as GatewayInfo | undefined,
  link: undefined as AgentLink | undefined,
  chain: undefined as Chain | undefined,
  deviceId: undefined as bigint | undefined,
  gatewayOnline: undefined as boolean | undefined,
  offer: undefined as Offer | undefined,
  seconds: 3600,
  quote: undefined as Quote | undefined,
  wallets: undefined as WalletChoice[] | undefined,
  picking: false,
  wallet: undefined as WalletChoice | undefined,
  address: undefined as string | undefined,
  balance: undefined as bigint | undefined,
  current: undefined as GuestRental | undefined,
  relay: undefined as StateMessage | undefined,
  progress: [] as string[],
  note: undefined as Note | undefined,
  busy: false,
  summary: undefined as Summary | undefined,
  fatal: '',
};

const root = document.getElementById('app') as HTMLElement;
const symbol = () => 'ETH';

function say(text: string, tone: Note['tone'] = 'info'): void {
  state.note = { text, tone };
  render();
}

// ---- rendering ------------------------------------------------------------------------------------

function kindName(kind: 'lock' | 'socket'): string {
  return t(kind);
}

function header(): HTMLElement {
  const other = currentLang() === 'en' ? 'ko' : 'en';
  return h(
    'header',
    {},
    h('a', { href: '/', class: 'brand' }, t('title')),
    h(
      'button',
      {
        class: 'lang',
        type: 'button',
        onclick: () => {
          setLang(other);
          render();
        },
      },
      t('language'),
    ),
  );
}

function noteLine(): HTMLElement {
  const n = state.note;
  return h(
    'p',
    { id: 'note', class: `note ${n?.tone ?? ''}`, role: 'status', 'aria-live': 'polite' },
    n?.text ?? '',
  );
}

function gatewayLine(): HTMLElement {
  const info = state.info as GatewayInfo;
  const online = state.gatewayOnline;
  return h(
    'p',
    { class: `gateway ${online === false ? 'down' : 'up'}`, id: 'gateway' },
    online === false
      ? t('gatewayDown', { gateway: info.gatewayId })
      : t('gatewayOk', { gateway: info.gatewayId }),
  );
}

function chainName(): string {
  const info = state.info as GatewayInfo;
  return info.chainName ?? `chain ${info.chainId}`;
}

function walletBlock(): HTMLElement {
  if (state.address)
    return h(
      'p',
      { class: 'wallet', id: 'wallet' },
      t('connectedAs', { address: shortAddress(state.address) }),
      state.balance !== undefined
        ? ` · ${t('balanceIs', { amount: ethShort(state.balance, symbol()) })}`
        : '',
    );
  if (state.wallets === undefined) return h('p', { class: 'wallet' }, t('loading'));
  if (state.wallets.length === 0) {
    return h(
      'section',
      { class: 'nowallet', id: 'no-wallet' },
      h('h2', {}, t('noWallet')),
      h('p', {}, t('whatIsWallet')),
      ...deepLinks(location.href).map((l) =>
        h(
          'a',
          { class: 'button secondary', href: l.url, 'data-wallet': l.wallet },
          t('openIn', { wallet: l.wallet }),
        ),
      ),
    );
  }
  if (state.picking && state.wallets.length > 1) {
    return h(
      'section',
      { class: 'picker', id: 'wallet-picker' },
      h('h2', {}, t('pickWallet')),
      ...state.wallets.map((w) =>
        h(
          'button',
          { class: 'button secondary', type: 'button', 'data-wallet': w.id, onclick: () => void choose(w) },
          w.icon ? h('img', { src: w.icon, alt: '', width: '28', height: '28' }) : '',
          w.name,
        ),
      ),
    );
  }
  return h(
    'button',
    {
      class: 'button',
      type: 'button',
      id: 'connect',
      onclick: () => void startConnect(),
      disabled: state.busy,
    },
    t('connectWallet'),
  );
}

function deviceCard(compact = false): HTMLElement {
  const offer = state.offer;
  const id = state.deviceId as bigint;
  const kind = offer?.kind ?? state.info?.devices.find((d) => d.id === id.toString())?.kind ?? 'lock';
  return h(
    'section',
    { class: 'card device', id: 'device' },
    h('h1', {}, t('deviceName', { kind: kindName(kind), device: id.toString() })),
    offer
      ? h(
          'p',
          { class: 'price', id: 'price' },
          t('pricePerHour', { amount: ethShort(offer.pricePerSecond * 3600n, symbol()) }),
          offer.pricePerWh > 0n
            ? ` ${t('pricePerKwh', { amount: ethShort(offer.pricePerWh * 1000n, symbol()) })}`
            : '',
        )
      : '',
    offer && !compact
      ? h(
          'p',
          { id: 'free' },
          offer.active
            ? offer.nextFree === 0n
              ? t('freeNow')
              : t('freeFrom', { time: clock(offer.nextFree) })
            : t('inactive'),
        )
      : '',
    compact ? '' : h('p', { class: 'muted' }, t('chainIs', { chain: chainName() })),
    compact ? '' : gatewayLine(),
  );
}

function durationPicker(offer: Offer): HTMLElement {
  return h(
    'fieldset',
    { class: 'durations' },
    h('legend', {}, t('duration')),
    ...durations(offer).map((s) =>
      h(
        'button',
        {
          type: 'button',
          class: `chip ${s === state.seconds ? 'chosen' : ''}`,
          'aria-pressed': s === state.seconds ? 'true' : 'false',
          'data-seconds': String(s),
          onclick: () => void pickDuration(s),
        },
        s < 3600 ? t('minutes', { n: s / 60 }) : t('hours', { n: s / 3600 }),
      ),
    ),
  );
}

function deviceScreen(): HTMLElement[] {
  const offer = state.offer;
  const q = state.quote;
  const parts: HTMLElement[] = [deviceCard()];
  if (offer?.active) {
    parts.push(durationPicker(offer));
    parts.push(
      h(
        'section',
        { class: 'card quote', id: 'quote' },
        q
          ? h('p', { class: 'big', id: 'deposit' }, t('depositIs', { amount: eth(q.deposit, symbol()) }))
          : '',
        q ? h('p', { id: 'unused' }, t('unusedBack', { amount: eth(q.backIfUnused, symbol()) })) : '',
        q ? h('p', { class: 'muted' }, t('depositNote', { max: eth(q.maxCharge, symbol()) })) : '',
      ),
    );
  }
  parts.push(walletBlock());
  if (state.address && offer?.active && q)
    parts.push(
      h(
        'button',
        { class: 'button', type: 'button', id: 'rent', onclick: () => void rent(), disabled: state.busy },
        t('rent', { amount: eth(q.deposit, symbol()) }),
      ),
    );
  return parts;
}

function rentingScreen(): HTMLElement[] {
  return [
    deviceCard(true),
    h(
      'section',
      { class: 'card', id: 'progress' },
      h('h2', {}, t('steps')),
      h('ol', {}, ...state.progress.map((p) => h('li', {}, p))),
    ),
  ];
}

function relayWords(s: StateMessage | undefined, kind: 'lock' | 'socket'): string {
  const closed = s?.relay === 'closed';
  if (kind === 'lock') return closed ? t('stateUnlocked') : t('stateLocked');
  return closed ? t('stateOn') : t('stateOff');
}

function rentalScreen(): HTMLElement[] {
  const cur = state.current as GuestRental;
  const r = cur.rental;
  const kind = state.offer?.kind ?? 'lock';
  const now = BigInt(Math.floor(Date.now() / 1000));
  const started = now >= r.start;
  const mine = state.relay?.rentalId === r.id.toString();
  const actions: [Action, StringKey][] =
    kind === 'lock'
      ? [
          ['unlock', 'unlock'],
          ['lock', 'lockNow'],
        ]
      : [
          ['on', 'powerOn'],
          ['off', 'powerOff'],
        ];
  const extra = state.offer ? extendCall(state.offer, r, 3600).value : undefined;
  return [
    deviceCard(true),
    h(
      'section',
      { class: 'card rental', id: 'rental' },
      h('h2', {}, t('yourRental')),
      h(
        'p',
        { class: `relay big ${state.relay?.relay === 'closed' ? 'active' : ''}`, id: 'relay' },
        relayWords(state.relay, kind),
      ),
      h(
        'p',
        { id: 'time-left' },
        started
          ? t('timeLeft', { time: duration(Number(r.end - now)) })
          : t('startsAt', { time: clock(r.start) }),
        ` · ${t('endsAt', { time: clock(r.end) })}`,
      ),
      kind === 'socket'
        ? h('p', { id: 'energy' }, t('energyUsed', { wh: mine ? String(state.relay?.energyWh ?? 0) : '0' }))
        : '',
      h('p', { class: 'muted' }, t('depositIs', { amount: eth(r.deposit, symbol()) })),
    ),
    noteLine(),
    h(
      'div',
      { class: 'actions' },
      ...actions.map(([action, label], i) =>
        h(
          'button',
          {
            class: `button ${i === 0 ? '' : 'secondary'}`,
            type: 'button',
            id: `act-${action}`,
            disabled: state.busy,
            onclick: () => void act(action),
          },
          t(label),
        ),
      ),
      extra !== undefined
        ? h(
            'button',
            {
              class: 'button secondary',
              type: 'button',
              id: 'extend',
              disabled: state.busy,
              onclick: () => void extend(),
            },
            t('extend', { amount: eth(extra, symbol()) }),
          )
        : '',
      h(
        'button',
        {
          class: 'button danger',
          type: 'button',
          id: 'checkout',
          disabled: state.busy,
          onclick: () => void checkout(),
        },
        t('checkout'),
      ),
    ),
  ];
}

function summaryScreen(): HTMLElement[] {
  const s = state.summary as Summary;
  const row = (label: string, value: string, id: string, detail?: string) =>
    h(
      'tr',
      {},
      h('th', { scope: 'row' }, label, detail ? h('small', {}, detail) : ''),
      h('td', { id }, value),
    );
  const timePart =
    s.secondsUsed !== undefined
      ? t('chargeTime', { seconds: s.secondsUsed.toString(), price: eth(s.rental.pricePerSecond, symbol()) })
      : undefined;
  const energyPart =
    s.energyWh !== undefined && s.rental.pricePerWh > 0n
      ? t('chargeEnergy', { wh: s.energyWh.toString(), price: eth(s.rental.pricePerWh, symbol()) })
      : undefined;
  return [
    deviceCard(true),
    h(
      'section',
      { class: 'card summary', id: 'summary' },
      h('h2', {}, t('summary')),
      s.byGateway ? h('p', { class: 'muted', id: 'settled-by' }, t('settledByGateway')) : '',
      h(
        'table',
        {},
        row(t('depositPaid'), eth(s.rental.deposit, symbol()), 'sum-deposit'),
        row(
          t('charged'),
          eth(s.charge, symbol()),
          'sum-charge',
          [timePart, energyPart].filter(Boolean).join(' + '),
        ),
        row(t('refunded'), eth(s.refund, symbol()), 'sum-refund'),
      ),
      h('h3', {}, t('transactions')),
      h(
        'ul',
        { class: 'txs' },
        ...s.txs.map((tx) =>
          h('li', {}, `${tx.label}: `, h('code', { title: tx.hash, 'data-tx': tx.hash }, shortHash(tx.hash))),
        ),
      ),
    ),
    h(
      'button',
      {
        class: 'button',
        type: 'button',
        id: 'rent-again',
        onclick: () => {
          state.summary = undefined;
          state.screen = 'device';
          void refreshOffer();
        },
      },
      t('rentAgain'),
    ),
  ];
}

function listScreen(): HTMLElement[] {
  const info = state.info as GatewayInfo;
  return [
    h('h1', {}, t('devicesHere')),
    gatewayLine(),
    h(
      'ul',
      { class: 'list' },
      ...info.devices.map((d) =>
        h(
          'li',
          {},
          h(
            'a',
            { class: 'button secondary', href: `/d/${d.id}` },
            t('deviceName', { kind: kindName(d.kind), device: d.id }),
          ),
        ),
      ),
    ),
  ];
}

function render(): void {
  let body: HTMLElement[];
  switch (state.screen) {
    case 'loading':
      body = [h('p', {}, t('loading'))];
      break;
    case 'error':
      body = [h('p', { class: 'note error' }, state.fatal)];
      break;
    case 'list':
      body = listScreen();
      break;
    case 'device':
      body = deviceScreen();
      break;
    case 'renting':
      body = rentingScreen();
      break;
    case 'rental':
      body = rentalScreen();
      break;
    case 'summary':
      body = summaryScreen();
      break;
  }
  root.dataset.screen = state.screen;
  // The rental screen places the agent's answer under the rental; elsewhere it closes the page.
  const withNote = state.screen === 'rental' ? body : [...body, noteLine()];
  root.replaceChildren(header(), h('main', {}, ...withNote));
}

// ---- wallet ---------------------------------------------------------------------------------------

function walletWords(e: unknown): string {
  const w = walletError(e);
  switch (w.code) {
    case 'rejected':
      return t('wRejected');
    case 'locked':
      return t('wLocked');
    case 'pending':
      return t('wPending');
    case 'unsupported':
      return t('wUnsupported', { why: w.message });
    case 'disconnected':
      return t('wDisconnected');
    case 'chain-unknown':
      return t('wChain', { chain: chainName(), why: w.message });
    default: {
      const reason = revertReason(e);
      return reason ? t('txReverted', { why: reason }) : t('wOther', { why: w.message });
    }
  }
}

/** The contract's custom error in a failed call, by name (e.g. DeviceBusy). */
function revertReason(e: unknown): string | undefined {
  const seen = new Set<unknown>();
  let cur: unknown = e;
  while (cur && typeof cur === 'object' && !seen.has(cur)) {
    seen.add(cur);
    const data = (cur as { data?: unknown }).data;
    const hex = typeof data === 'string' ? data : (data as { data?: unknown } | undefined)?.data;
    if (typeof hex === 'string' && hex.startsWith('0x') && hex.length >= 10) {
      try {
        const parsed = latchkey.parseError(hex);
        if (parsed) return parsed.name;
      } catch {
        // not ours
      }
    }
    cur = (cur as { cause?: unknown }).cause ?? (data && typeof data === 'object' ? data : undefined);
  }
  return undefined;
}

function provider(): Eip1193Provider {
  if (!state.wallet) throw new WalletError('locked', 'no wallet connected');
  return state.wallet.provider;
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
  await ensureChain(
    provider(),
    {
      chainId: BigInt(info.chainId),
      chainName: chainName(),
      rpcUrls: info.rpcUrl ? [info.rpcUrl] : [],
      nativeCurrency: { name: 'Ether', symbol: symbol(), decimals: 18 },
    },
    (step) =>
      say(
        step === 'add' ? t('wAddChain', { chain: chainName() }) : t('wSwitchChain', { chain: chainName() }),
      ),
  );
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
  if (open) {
    state.current = open;
    state.screen = 'rental';
    await watch();
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
  state.busy = true;
  state.note = undefined;
  render();
  try {
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
    await refreshBalance();
    await watch();
    say(t('stepReady'), 'ok');
  } catch (e) {
    if (state.screen === 'renting') state.screen = 'device';
    say(walletWords(e), 'error');
  } finally {
    state.busy = false;
    render();
  }
}

async function extend(): Promise<void> {
  const chain = state.chain as Chain;
  const cur = state.current as GuestRental;
  state.busy = true;
  render();
  try {
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
  } catch (e) {
    say(walletWords(e), 'error');
  } finally {
    state.busy = false;
    render();
  }
}

// ---- access tokens --------------------------------------------------------------------------------

function viaWords(via: Via): string {
  return via === 'broker' ? t('viaBroker') : t('viaLan');
}

/** Signs `action` for the current rental and sends it; retries while the gateway has not seen the rental. */
async function signAndSend(
  action: Action,
): Promise<{ reply: Awaited<ReturnType<AgentLink['send']>>['reply']; via: Via }> {
  const info = state.info as GatewayInfo;
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
  say(t('signToken'));
  const access = accessFor(cur.rental.id, action);
  // The domain's chainId is the wallet's active chain: ensured equal to the gateway's just above.
  const chainId = await walletChainId(provider());
  const signature = await signTypedData(
    provider(),
    state.address as string,
    typedDataJson(access, chainId, info.contract),
  );
  const token = { access, signature, id: link.nextId() };
  say(t('sending'));
  for (let attempt = 0; ; attempt++) {
    let sent: Awaited<ReturnType<AgentLink['send']>>;
    try {
      sent = await link.send(token);
    } catch {
      throw new Error(t('noRoute'));
    }
    const { reply } = sent;
    // Right after the confirmations the gateway may still be a poll behind, and a rental that starts
    // now may start a second after the gateway's clock: both pass by themselves within seconds.
    const code = reply.status === 'error' ? reply.error.code : undefined;
    const soon = Number(cur.rental.start) - Date.now() / 1000 < 5;
    const passing = code === 'unknown-rental' || (code === 'not-started' && soon);
    if (passing && attempt < 10 && access.validUntil > Date.now() / 1000 + 5) {
      say(t('retrying'));
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      continue;
    }
    return sent;
  }
}

async function act(action: Action): Promise<void> {
  state.busy = true;
  render();
  try {
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
  } catch (e) {
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
  state.busy = true;
  render();
  try {
    const { reply, via } = await signAndSend('checkout');
    if (reply.status === 'error' && reply.error.code !== 'rental-not-open')
      return say(`${replyText(reply.error.code, reply.error.message)} (${viaWords(via)})`, 'error');
    say(t('checkingOut'));
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
    state.summary = {
      rental: cur.rental,
      charge: settled.charge,
      refund: settled.refund,
      ...(signed
        ? { secondsUsed: BigInt(signed.receipt.secondsUsed), energyWh: BigInt(signed.receipt.energyWh) }
        : {}),
      byGateway,
      txs: [
        { label: 'rent', hash: cur.rentedIn },
        ...cur.extendedIn.map((hash) => ({ label: 'extend', hash })),
        { label: 'checkout', hash: settled.txHash },
      ],
    };
    state.current = undefined;
    state.screen = 'summary';
    await refreshBalance();
    state.note = undefined;
  } catch (e) {
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

async function health(): Promise<void> {
  try {
    const res = await fetch('/health', { cache: 'no-store' });
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
  await health();
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
      await afterConnect().catch((e: unknown) => say(walletWords(e), 'error'));
      break;
    }
  }
  explainBlocked();
  setInterval(() => {
    if (state.screen === 'rental' && !state.busy) render();
  }, 1_000);
}

void start();
