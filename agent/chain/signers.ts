// Which key signs each device's receipts on chain (Latchkey.device(id).signer): the agent serves only
// devices whose signer is one of its keys — the current one, or one it kept after a rotation — so no
// other gateway configured for a device accepts its tokens (and none serves a device whose receipts
// could never settle).

import { keccak_256 } from '@noble/hashes/sha3.js';
import { LatchkeyError } from '../errors.js';
import type { RpcClient } from './rpc.js';

const DEVICE_SELECTOR = Buffer.from(keccak_256(new TextEncoder().encode('device(uint256)')).subarray(0, 4));
/** Word of `signer` in the ABI encoding of ILatchkey.Device (host, min, max, factor, kind, active, signer, …). */
const SIGNER_WORD = 6;

/** The device's receipt signer as lower-case 0x hex, or undefined for a device never registered. */
export async function deviceSigner(
  rpc: RpcClient,
  contract: string,
  deviceId: bigint,
): Promise<string | undefined> {
  const data = `0x${DEVICE_SELECTOR.toString('hex')}${deviceId.toString(16).padStart(64, '0')}`;
  const reply = await rpc.request('eth_call', [{ to: contract, data }, 'latest']);
  if (!('result' in reply) || typeof reply.result !== 'string') return undefined; // reverted: unknown device
  const word = reply.result.slice(2 + SIGNER_WORD * 64, 2 + (SIGNER_WORD + 1) * 64);
  if (word.length !== 64) return undefined;
  const signer = `0x${word.slice(24)}`;
  return /^0x0{40}$/.test(signer) ? undefined : signer;
}

/** What checkSigners found: each registered device's signer, and the devices not registered yet. */
export interface SignerCheck {
  /** Lower-case signer of each registered device: one of the gateway's keys. */
  signers: Map<bigint, string>;
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
    const signer = await deviceSigner(rpc, contract, id);
    if (signer === undefined) out.unregistered.push(id);
    else if (!keys.includes(signer))
      problems.push(
        `device ${id}: its signer on chain is ${signer}, not this gateway's key ${current}; its receipts ` +
          'could never settle and another gateway serves it: register it with this key or rotate its signer',
      );
    else {
      out.signers.set(id, signer);
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

/**
 * Reads each device's signer again into `known` (a rotation on chain: setSigner) and returns the
 * devices whose signer changed, including ones registered since. A CHAIN_UNAVAILABLE passes through.
 */
export async function refreshSigners(
  rpc: RpcClient,
  contract: string,
  deviceIds: readonly bigint[],
  known: Map<bigint, string>,
): Promise<bigint[]> {
  const changed: bigint[] = [];
  for (const id of deviceIds) {
    const signer = await deviceSigner(rpc, contract, id);
    if (signer === undefined || known.get(id) === signer) continue;
    known.set(id, signer);
    changed.push(id);
  }
  return changed;
}
