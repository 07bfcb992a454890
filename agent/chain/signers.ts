// Which key signs each device's receipts on chain (Latchkey.device(id).signer): the agent serves only
// devices whose signer is one of its keys — the current one, or one it kept after a rotation — so no
// other gateway configured for a device accepts its tokens (and none serves a device whose receipts
// could never settle). Read once at start; the watcher follows SignerChanged and SignerRevoked after.

import { keccak_256 } from '@noble/hashes/sha3.js';
import { LatchkeyError } from '../errors.js';
import type { RpcClient } from './rpc.js';

const DEVICE_SELECTOR = Buffer.from(keccak_256(new TextEncoder().encode('device(uint256)')).subarray(0, 4));
/** Words of `host` and `signer` in the ABI encoding of ILatchkey.Device (host, min, max, factor, kind, active, signer, …). */
const HOST_WORD = 0;
const SIGNER_WORD = 6;

/** A registered device's host and receipt signer, lower-case 0x hex. */
export interface DeviceKeys {
  host: string;
  signer: string;
}

/** The device's host and receipt signer, or undefined for a device never registered. */
export async function deviceKeys(
  rpc: RpcClient,
  contract: string,
  deviceId: bigint,
): Promise<DeviceKeys | undefined> {
  const data = `0x${DEVICE_SELECTOR.toString('hex')}${deviceId.toString(16).padStart(64, '0')}`;
  const reply = await rpc.request('eth_call', [{ to: contract, data }, 'latest']);
  if (!('result' in reply) || typeof reply.result !== 'string') return undefined; // reverted: unknown device
  const address = (i: number) => {
    const word = (reply.result as string).slice(2 + i * 64, 2 + (i + 1) * 64);
    return word.length === 64 ? `0x${word.slice(24).toLowerCase()}` : undefined;
  };
  const host = address(HOST_WORD);
  const signer = address(SIGNER_WORD);
  if (!host || !signer || /^0x0{40}$/.test(host) || /^0x0{40}$/.test(signer)) return undefined;
  return { host, signer };
}

/** What checkSigners found: each registered device's signer, and the devices not registered yet. */
export interface SignerCheck {
  /** Lower-case host and signer of each registered device, whose signer is one of the gateway's keys. */
  signers: Map<bigint, DeviceKeys>;
  /** Devices not registered yet (no rental can exist for them; a gateway may be set up before its devices are). */
  unregistered: bigint[];
  /** Devices whose signer is one of the gateway's previous keys (a rotation the host has not made on chain yet). */
  onPreviousKey: bigint[];
}

/**
 * Throws CONFIG_INVALID naming every device whose on-chain signer is none of `gateway`'s keys (the
 * current first, then previous ones kept after a rotation). A CHAIN_UNAVAILABLE from the RPC client
 * passes through (the caller decides whether to start anyway).
 */
export async function checkSigners(
  rpc: RpcClient,
  contract: string,
  deviceIds: readonly bigint[],
  gateway: string | readonly string[],
): Promise<SignerCheck> {
  const keys = (typeof gateway === 'string' ? [gateway] : gateway).map((a) => a.toLowerCase());
  const current = keys[0];
  const problems: string[] = [];
  const out: SignerCheck = { signers: new Map(), unregistered: [], onPreviousKey: [] };
  for (const id of deviceIds) {
    const found = await deviceKeys(rpc, contract, id);
    if (found === undefined) {
      out.unregistered.push(id);
      continue;
    }
    const { signer } = found;
    if (!keys.includes(signer))
      problems.push(
        `device ${id}: its signer on chain is ${signer}, not this gateway's key ${current}; its receipts ` +
          'could never settle and another gateway serves it: register it with this key or rotate its signer',
      );
    else {
      out.signers.set(id, found);
      if (signer !== current) out.onPreviousKey.push(id);
    }
  }
  if (problems.length > 0)
    throw new LatchkeyError(
      'CONFIG_INVALID',
      `refusing to serve ${problems.length === 1 ? 'a device' : 'devices'} of another key`,
      {
        details: problems.map((p) => `  - ${p}`).join('\n'),
      },
    );
  return out;
}
