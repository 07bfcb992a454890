// Signatures of smart-contract wallets (Safe, Coinbase Smart Wallet, passkey accounts): the wallet itself
// says whether it signed a digest, through ERC-1271 isValidSignature, asked with an eth_call. A signature
// wrapped for a wallet not yet deployed (ERC-6492) is unwrapped and its inner signature asked of the
// deployed wallet: a rental's guest has always sent the rent transaction itself, so its wallet is on
// chain by the time its Rented log is; an account with no code is no wallet and signed nothing.

import type { RpcClient } from './rpc.js';

/** isValidSignature(bytes32,bytes)'s selector, which is also the answer meaning "yes". */
const MAGIC_VALUE = '1626ba7e';
/** The 32-byte suffix of an ERC-6492 wrapped signature. */
const ERC6492_SUFFIX = '6492'.repeat(16);

function word(n: number | bigint): string {
  return BigInt(n).toString(16).padStart(64, '0');
}

/** The calldata of isValidSignature(digest, signature). */
export function isValidSignatureCall(digest: Uint8Array, signature: Uint8Array): `0x${string}` {
  const sig = Buffer.from(signature).toString('hex');
  const padded = sig.padEnd(Math.ceil(sig.length / 64) * 64, '0');
  return `0x${MAGIC_VALUE}${Buffer.from(digest).toString('hex')}${word(64)}${word(signature.length)}${padded}`;
}

/**
 * The inner signature of an ERC-6492 wrapper abi.encode(address factory, bytes factoryCalldata,
 * bytes signature) ‖ suffix; the signature itself when it is not wrapped; undefined for a broken wrapper.
 */
export function unwrapErc6492(signature: Uint8Array): Uint8Array | undefined {
  const hex = Buffer.from(signature).toString('hex');
  if (!hex.endsWith(ERC6492_SUFFIX)) return signature;
  const body = Buffer.from(hex.slice(0, -64), 'hex');
  const readWord = (at: number): number | undefined => {
    if (at < 0 || at + 32 > body.length) return undefined;
    const w = BigInt(`0x${body.subarray(at, at + 32).toString('hex')}`);
    return w > BigInt(body.length) ? undefined : Number(w);
  };
  const offset = readWord(64);
  if (offset === undefined) return undefined;
  const length = readWord(offset);
  if (length === undefined || offset + 32 + length > body.length) return undefined;
  return new Uint8Array(body.subarray(offset + 32, offset + 32 + length));
}

/**
 * True when the contract at `account` answers isValidSignature(digest, signature) with the magic value.
 * False for an account without code, a revert, or any other answer. Throws CHAIN_UNAVAILABLE when no
 * RPC endpoint answers.
 */
export async function walletSigned(
  rpc: RpcClient,
  account: string,
  digest: Uint8Array,
  signature: Uint8Array,
): Promise<boolean> {
  const inner = unwrapErc6492(signature);
  if (!inner) return false;
  const reply = await rpc.request('eth_call', [
    { to: account, data: isValidSignatureCall(digest, inner) },
    'latest',
  ]);
  if (!('result' in reply) || typeof reply.result !== 'string') return false;
  // An account without code answers 0x; a wallet answers the bytes4 left-aligned in one word.
  return reply.result.toLowerCase() === `0x${MAGIC_VALUE}${'0'.repeat(56)}`;
}
