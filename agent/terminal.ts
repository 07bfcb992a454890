// What `npm start` shows while it runs: one short line per thing a person would want to see (a
// rental seen on chain, a door unlocked, a token refused and why, a checkout, a settlement and its
// refund), fed by the agent's own events. Plus the sticker URL of each device as a QR code.

import { formatEther } from 'ethers';
import QRCode from 'qrcode';
import type { LatchkeyContract } from '../contracts/deploy.js';
import { parseLatchkeyLog } from '../contracts/events.js';
import { deviceOf } from '../contracts/typedData.js';
import type { Agent, AgentEvents } from './agent.js';
import type { DeviceState } from './devices/deviceState.js';
import type { ReplyEnvelope } from './mqtt/topics.js';
import type { StoredReceipt } from './store/store.js';

/** What the chain's Settled log of a rental says. */
export interface Settlement {
  charge: bigint;
  refund: bigint;
  txHash: string;
}

export interface NarratorOptions {
  write: (line: string) => void;
  /** The Settled log of a rental, read from the chain; undefined when it is not found. */
  settlement?: (rentalId: bigint) => Promise<Settlement | undefined>;
  /** Wall-clock time for the line's stamp; default the local time of day. */
  now?: () => Date;
}

const ACTION_DONE: Record<string, string> = {
  unlock: 'unlocked',
  lock: 'locked',
  on: 'powered on',
  off: 'powered off',
};

function short(address: string): string {
  return `${address.slice(0, 6)}…${address.slice(-4)}`;
}

function eth(wei: bigint): string {
  return `${formatEther(wei)} ETH`;
}

function hhmm(unixSeconds: bigint | number): string {
  return new Date(Number(unixSeconds) * 1000).toTimeString().slice(0, 5);
}

function deviceName(agent: Agent, deviceId: bigint): string {
  const kind = agent.controllers.get(deviceId)?.kind;
  return kind ? `${kind} ${deviceId}` : `device ${deviceId}`;
}

/** The line for an answered access request. */
export function accessLine(device: string, answer: ReplyEnvelope, path: string): string {
  if (answer.status === 'error') return `${device}: refused (${answer.error.code}) ${answer.error.message}`;
  const data = (answer.data ?? {}) as {
    action?: string;
    session?: string;
    rentalId?: string;
    validUntil?: number;
    state?: DeviceState;
    receipt?: StoredReceipt;
  };
  const via = `via ${path === 'http' ? 'LAN HTTP' : 'MQTT'}`;
  if (data.session)
    return `${device}: session key accepted for rental ${data.rentalId}${data.validUntil ? ` until ${hhmm(data.validUntil)}` : ''} (${via})`;
  const rental = data.state?.rentalId !== undefined ? `rental ${data.state.rentalId}` : 'the rental';
  if (data.action === 'checkout') {
    const r = data.receipt?.receipt;
    return r
      ? `${device}: checked out rental ${r.rentalId}, ${r.secondsUsed} s and ${r.energyWh} Wh used, receipt signed (${via})`
      : `${device}: checked out ${rental} (${via})`;
  }
  const done = ACTION_DONE[data.action ?? ''] ?? data.action ?? 'done';
  return `${device}: ${done} for ${rental} (${via})`;
}

/** Feeds the agent's events to `write` as short lines; returns a function that stops it. */
export function narrate(agent: Agent, options: NarratorOptions): () => void {
  const now = options.now ?? (() => new Date());
  const say = (text: string) => options.write(`${now().toTimeString().slice(0, 8)}  ${text}`);
  const onAccess: (...a: AgentEvents['access']) => void = ({ deviceId, path, answer }) =>
    say(accessLine(deviceName(agent, deviceId), answer, path));
  const onRental: (...a: AgentEvents['rental']) => void = (r) =>
    say(
      `${deviceName(agent, r.deviceId)}: rental ${r.id} by ${short(r.guest)}, ${hhmm(r.start)}–${hhmm(r.end)}, deposit ${eth(r.deposit)}`,
    );
  const onClosed: (...a: AgentEvents['closed']) => void = ({ rentalId, status }) => {
    const device = deviceName(agent, deviceOf(rentalId));
    if (status === 'cancelled') return say(`${device}: rental ${rentalId} cancelled, whole deposit refunded`);
    if (status === 'revoked')
      return say(`${device}: rental ${rentalId} is gone from the chain (reorg), no longer granted`);
    if (status !== 'settled') return;
    const lookup = options.settlement?.(rentalId);
    if (!lookup) return say(`${device}: rental ${rentalId} settled on chain`);
    lookup.then(
      (s) =>
        say(
          s
            ? `${device}: rental ${rentalId} settled, charged ${eth(s.charge)}, refunded ${eth(s.refund)} (tx ${s.txHash})`
            : `${device}: rental ${rentalId} settled on chain`,
        ),
      (e: unknown) =>
        say(
          `${device}: rental ${rentalId} settled on chain (amounts not read: ${e instanceof Error ? e.message : String(e)})`,
        ),
    );
  };
  const onAlarm: (...a: AgentEvents['alarm']) => void = ({ kind, message }) =>
    say(`alarm (${kind}): ${message}`);
  agent.on('access', onAccess);
  agent.on('rental', onRental);
  agent.on('closed', onClosed);
  agent.on('alarm', onAlarm);
  return () => {
    agent.off('access', onAccess);
    agent.off('rental', onRental);
    agent.off('closed', onClosed);
    agent.off('alarm', onAlarm);
  };
}

/** The amounts of a rental's Settled log, as the chain recorded them. */
export async function settlementOf(
  contract: LatchkeyContract,
  rentalId: bigint,
): Promise<Settlement | undefined> {
  const logs = await contract.queryFilter(contract.getEvent('Settled')(rentalId), 0, 'latest');
  const log = logs.at(-1);
  const event = log && parseLatchkeyLog(log, await contract.getAddress());
  if (!log || event?.name !== 'Settled') return undefined;
  return { charge: event.args.charge, refund: event.args.refund, txHash: log.transactionHash };
}

/** `url` as a QR code of Unicode half blocks, for a phone's camera to read off the terminal. */
export function qrText(url: string): Promise<string> {
  return QRCode.toString(url, { type: 'utf8', errorCorrectionLevel: 'L', margin: 2 });
}
