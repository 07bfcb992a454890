// The screens: plain DOM built from the page's state on every change. What a button does is the
// flows' business (main.ts hands them in as Actions); what is shown, and in which words, is here.

import type { StateMessage } from '../../agent/mqtt/topics.js';
import type { Action } from '../../contracts/typedData.js';
import type { GuestRental } from './chain.js';
import { h } from './dom.js';
import { clock, duration, eth, ethShort, shortAddress, shortHash } from './format.js';
import type { GatewayInfo } from './info.js';
import { cancelFeeNow, durations, extendCall, type Offer } from './pricing.js';
import { chainName, type Note, type Summary, state, symbol } from './state.js';
import { currentLang, type StringKey, setLang, t } from './strings.js';
import { deepLinks, type WalletChoice } from './wallet.js';

/** What the buttons do. */
export interface Actions {
  startConnect(): Promise<void>;
  choose(w: WalletChoice): Promise<void>;
  pickDuration(seconds: number): Promise<void>;
  rent(): Promise<void>;
  act(action: Action): Promise<void>;
  extend(): Promise<void>;
  checkout(): Promise<void>;
  cancel(): Promise<void>;
  rentAgain(): Promise<void>;
  useDevWallet(): Promise<void>;
}

let root: HTMLElement;
let actions: Actions;

export function mountScreens(at: HTMLElement, a: Actions): void {
  root = at;
  actions = a;
}

/** Shows `text` as the page's status line. */
export function say(text: string, tone: Note['tone'] = 'info'): void {
  state.note = { text, tone };
  render();
}

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

function gatewayLine(): HTMLElement | '' {
  const info = state.info as GatewayInfo;
  const online = state.gatewayOnline;
  if (online === undefined) return '';
  return h(
    'p',
    { class: `gateway ${online === false ? 'down' : 'up'}`, id: 'gateway' },
    online === false
      ? t('gatewayDown', { gateway: info.gatewayId })
      : t('gatewayOk', { gateway: info.gatewayId }),
  );
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
      state.info?.devWalletKey
        ? h(
            'button',
            {
              class: 'button dev',
              type: 'button',
              id: 'dev-wallet',
              onclick: () => void actions.useDevWallet(),
            },
            t('devWallet'),
          )
        : '',
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
          {
            class: 'button secondary',
            type: 'button',
            'data-wallet': w.id,
            onclick: () => void actions.choose(w),
          },
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
      onclick: () => void actions.startConnect(),
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
          onclick: () => void actions.pickDuration(s),
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
  const past = state.past;
  if (past?.settled)
    parts.push(
      h(
        'section',
        { class: 'card', id: 'past' },
        h('h2', {}, t('pastRental')),
        h('p', {}, `${t('endsAt', { time: clock(past.rental.end) })}`),
        h(
          'table',
          {},
          h(
            'tr',
            {},
            h('th', { scope: 'row' }, t('depositPaid')),
            h('td', {}, eth(past.rental.deposit, symbol())),
          ),
          h(
            'tr',
            {},
            h('th', { scope: 'row' }, t('charged')),
            h('td', {}, eth(past.settled.charge, symbol())),
          ),
          h(
            'tr',
            {},
            h('th', { scope: 'row' }, t('refunded')),
            h('td', { id: 'past-refund' }, eth(past.settled.refund, symbol())),
          ),
        ),
        h('p', { class: 'muted' }, h('code', { title: past.settled.txHash }, shortHash(past.settled.txHash))),
      ),
    );
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
        h(
          'p',
          { id: 'cancel-rule', class: 'muted' },
          offer.cancelWindow > 0
            ? t('cancelRule', { hours: String(Math.round((offer.cancelWindow / 3600) * 10) / 10) })
            : t('cancelAlwaysFree'),
        ),
        q && q.energyWh > 0n
          ? h('p', { id: 'energy-allowance' }, t('energyAllowance', { wh: q.energyWh.toString() }))
          : '',
      ),
    );
  }
  parts.push(walletBlock());
  if (state.address && offer?.active && q)
    parts.push(
      h(
        'button',
        {
          class: 'button',
          type: 'button',
          id: 'rent',
          onclick: () => void actions.rent(),
          disabled: state.busy,
        },
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

const STATUS_WORDS = {
  locked: 'stateLocked',
  unlocked: 'stateUnlocked',
  on: 'stateOn',
  off: 'stateOff',
} as const satisfies Record<StateMessage['status'], StringKey>;

/** The device in the agent's own words (`status`); before any state has arrived, its safe state. */
function relayWords(s: StateMessage | undefined, kind: 'lock' | 'socket'): string {
  return t(STATUS_WORDS[s?.status ?? (kind === 'lock' ? 'locked' : 'off')]);
}

function timeLeftText(start: bigint, end: bigint, now: bigint): string {
  const when =
    now >= start
      ? t('timeLeft', { time: duration(Number(end - now)) })
      : t('startsAt', { time: clock(start) });
  return `${when} · ${t('endsAt', { time: clock(end) })}`;
}

/** Updates the rental's countdown in place: no re-render, so focus and scrolling stay where they are. */
export function tick(): void {
  const el = document.getElementById('time-left');
  const r = state.current?.rental;
  if (el && r && state.screen === 'rental')
    el.textContent = timeLeftText(r.start, r.end, BigInt(Math.floor(Date.now() / 1000)));
}

function rentalScreen(): HTMLElement[] {
  const cur = state.current as GuestRental;
  const r = cur.rental;
  const kind = state.offer?.kind ?? 'lock';
  const now = BigInt(Math.floor(Date.now() / 1000));
  const mine = state.relay?.rentalId === r.id.toString();
  const buttons: [Action, StringKey][] =
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
        {
          class: `relay big ${state.relay?.status === 'unlocked' || state.relay?.status === 'on' ? 'active' : ''}`,
          id: 'relay',
        },
        relayWords(state.relay, kind),
      ),
      h('p', { id: 'time-left' }, timeLeftText(r.start, r.end, now)),
      kind === 'socket'
        ? h('p', { id: 'energy' }, t('energyUsed', { wh: mine ? String(state.relay?.energyWh ?? 0) : '0' }))
        : '',
      h('p', { class: 'muted' }, t('depositIs', { amount: eth(r.deposit, symbol()) })),
      state.keys
        ? h(
            'p',
            { class: 'muted', id: 'keys' },
            t(state.keys === 'session' ? 'keysSession' : state.keys === 'once' ? 'keysOnce' : 'keysWallet'),
          )
        : '',
    ),
    noteLine(),
    h(
      'div',
      { class: 'actions' },
      ...buttons.map(([action, label], i) =>
        h(
          'button',
          {
            class: `button ${i === 0 ? '' : 'secondary'}`,
            type: 'button',
            id: `act-${action}`,
            disabled: state.busy,
            onclick: () => void actions.act(action),
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
              onclick: () => void actions.extend(),
            },
            t('extend', { amount: eth(extra, symbol()) }),
          )
        : '',
      closeButton(r, now),
    ),
  ];
}

/** Check out once the rental has started; before, cancel it, saying what comes back and the fee. */
function closeButton(r: GuestRental['rental'], now: bigint): HTMLElement {
  const fee = cancelFeeNow(r, now);
  const button = (id: string, onclick: () => Promise<void>, words: string) =>
    h(
      'button',
      { class: 'button danger', type: 'button', id, disabled: state.busy, onclick: () => void onclick() },
      words,
    );
  if (fee === undefined) return button('checkout', actions.checkout, t('checkout'));
  const refund = eth(r.deposit - fee, symbol());
  return button(
    'cancel',
    actions.cancel,
    fee > 0n ? t('cancelBookingFee', { refund, fee: eth(fee, symbol()) }) : t('cancelBooking', { refund }),
  );
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
      h('h2', {}, t(s.cancelled ? 'cancelledSummary' : 'summary')),
      s.byGateway ? h('p', { class: 'muted', id: 'settled-by' }, t('settledByGateway')) : '',
      h(
        'table',
        {},
        row(t('depositPaid'), eth(s.rental.deposit, symbol()), 'sum-deposit'),
        row(
          t(s.cancelled ? 'cancelFeeCharged' : 'charged'),
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
          h(
            'li',
            {},
            `${t(tx.label)}: `,
            h('code', { title: tx.hash, 'data-tx': tx.hash }, shortHash(tx.hash)),
          ),
        ),
      ),
    ),
    h(
      'button',
      {
        class: 'button',
        type: 'button',
        id: 'rent-again',
        onclick: () => void actions.rentAgain(),
      },
      t('rentAgain'),
    ),
  ];
}

function listScreen(): HTMLElement[] {
  const info = state.info as GatewayInfo;
  return [
    h('div', {}, h('h1', {}, t('devicesHere')), gatewayLine()),
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

export function render(): void {
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
