// The page's state: one object the flows change and the screens read.

import type { StateMessage } from '../../agent/mqtt/topics.js';
import type { Rental } from '../../contracts/typedData.js';
import type { Chain, GuestRental } from './chain.js';
import type { GatewayInfo } from './info.js';
import type { AgentLink } from './link.js';
import type { Offer, Quote } from './pricing.js';
import type { WalletChoice } from './wallet.js';

export type Screen = 'loading' | 'list' | 'device' | 'renting' | 'rental' | 'summary' | 'error';

export interface Summary {
  rental: Rental;
  charge: bigint;
  refund: bigint;
  secondsUsed?: bigint;
  energyWh?: bigint;
  byGateway: boolean;
  /** Cancelled before its start: the charge is the cancellation fee. */
  cancelled?: boolean;
  txs: { label: 'txRent' | 'txExtend' | 'txCheckout' | 'txCancel'; hash: string }[];
}

export interface Note {
  text: string;
  tone: 'info' | 'ok' | 'error';
}

export const state = {
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
  /**
   * How the next action is signed: by the rental's session key (`session`), by it after one wallet
   * signature for the grant (`once`), or by the wallet each time (`wallet`: no key can be kept here).
   */
  keys: undefined as 'session' | 'once' | 'wallet' | undefined,
  progress: [] as string[],
  note: undefined as Note | undefined,
  busy: false,
  summary: undefined as Summary | undefined,
  /** The guest's last settled rental of this device, from the chain's logs. */
  past: undefined as GuestRental | undefined,
  fatal: '',
};

/** The chain's name for the guest: from the gateway's facts, else its id. */
export function chainName(): string {
  const info = state.info as GatewayInfo;
  return info.chainName ?? `chain ${info.chainId}`;
}

/** The chain's currency symbol. */
export const symbol = (): string => 'ETH';
