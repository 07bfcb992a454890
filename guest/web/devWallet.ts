// The development wallet of the embedded default (`npm start` only): an EIP-1193 provider in the page
// backed by the funded anvil dev key that /api/info hands out there, so a newcomer can rent from a
// desktop browser with no wallet extension. Loaded only when offered; a real gateway never offers it.

import { JsonRpcProvider, Wallet } from 'ethers';
import type { GatewayInfo } from './info.js';
import type { Eip1193Provider, WalletChoice } from './wallet.js';

export function devWallet(info: GatewayInfo, key: string): WalletChoice {
  if (!info.rpcUrl) throw new Error('the development wallet needs the chain RPC URL');
  const chain = new JsonRpcProvider(info.rpcUrl, Number(info.chainId), { staticNetwork: true });
  const wallet = new Wallet(key, chain);
  const provider: Eip1193Provider = {
    async request({ method, params }) {
      const args = (params ?? []) as unknown[];
      switch (method) {
        case 'eth_requestAccounts':
        case 'eth_accounts':
          return [wallet.address];
        case 'eth_chainId':
          return `0x${BigInt(info.chainId).toString(16)}`;
        case 'wallet_switchEthereumChain':
        case 'wallet_addEthereumChain':
          return null;
        case 'eth_sendTransaction': {
          const tx = args[0] as { to: string; data: string; value?: string };
          const sent = await wallet.sendTransaction({
            to: tx.to,
            data: tx.data,
            ...(tx.value !== undefined ? { value: BigInt(tx.value) } : {}),
          });
          return sent.hash;
        }
        case 'eth_signTypedData_v4': {
          const typed = JSON.parse(args[1] as string) as {
            types: Record<string, { name: string; type: string }[]>;
            domain: Record<string, unknown>;
            message: Record<string, unknown>;
          };
          const { EIP712Domain: _, ...types } = typed.types;
          return wallet.signTypedData(typed.domain, types, typed.message);
        }
        default:
          return chain.send(method, args);
      }
    },
  };
  return { id: 'dev', name: 'Development wallet', provider };
}
