// A test wallet for the guest page in a real Chromium: an EIP-1193 provider injected into the page
// (announced over EIP-6963, or as window.ethereum) whose requests run in the test process against a
// real anvil account: eth_sendTransaction really sends, eth_signTypedData_v4 really signs. Options make
// it behave like the wallets a guest meets: on another chain, not knowing the chain (4902, also nested
// as MetaMask mobile does), declining a signature.

import { type JsonRpcProvider, Wallet } from 'ethers';
import type { Page } from 'playwright-core';

export interface TestWalletOptions {
  privateKey: string;
  /** The chain the wallet is on at first (default: the anvil chain). */
  startChainId?: number;
  /** Chains the wallet knows besides the start chain; a switch to another fails with 4902. */
  knownChains?: number[];
  /** Wrap 4902 the way MetaMask mobile does: { code: -32603, data: { originalError: { code: 4902 } } }. */
  nested4902?: boolean;
  /** Decline eth_signTypedData_v4 with 4001. */
  declineSignatures?: boolean;
  /** Accounts already shared with the page (eth_accounts answers without a prompt). */
  preconnected?: boolean;
  name?: string;
  rdns?: string;
  /** Inject as window.ethereum only, without EIP-6963 (an older in-app browser). */
  legacy?: boolean;
}

export interface WalletCall {
  wallet: number;
  method: string;
  params: unknown;
}

interface RpcError {
  code: number;
  message: string;
  data?: unknown;
}

class Declined extends Error {
  constructor(readonly rpc: RpcError) {
    super(rpc.message);
  }
}

class TestWallet {
  readonly wallet: Wallet;
  chainId: number;
  readonly known: Set<number>;
  connected: boolean;

  constructor(
    readonly options: TestWalletOptions,
    private readonly provider: JsonRpcProvider,
    readonly anvilChainId: number,
  ) {
    this.wallet = new Wallet(options.privateKey, provider);
    this.chainId = options.startChainId ?? anvilChainId;
    this.known = new Set([this.chainId, ...(options.knownChains ?? [])]);
    this.connected = options.preconnected ?? false;
  }

  async handle(method: string, params: unknown[]): Promise<unknown> {
    switch (method) {
      case 'eth_requestAccounts':
        this.connected = true;
        return [this.wallet.address];
      case 'eth_accounts':
        return this.connected ? [this.wallet.address] : [];
      case 'eth_chainId':
        return `0x${this.chainId.toString(16)}`;
      case 'wallet_switchEthereumChain': {
        const target = Number(BigInt((params[0] as { chainId: string }).chainId));
        if (!this.known.has(target)) {
          const unknown = { code: 4902, message: `Unrecognized chain ID ${target}` };
          throw new Declined(
            this.options.nested4902
              ? { code: -32603, message: 'Internal error', data: { originalError: unknown } }
              : unknown,
          );
        }
        this.chainId = target;
        return null;
      }
      case 'wallet_addEthereumChain': {
        const target = Number(BigInt((params[0] as { chainId: string }).chainId));
        this.known.add(target);
        this.chainId = target;
        return null;
      }
      case 'eth_sendTransaction': {
        this.onAnvil();
        const tx = params[0] as { to: string; data: string; value?: string };
        const sent = await this.wallet.sendTransaction({
          to: tx.to,
          data: tx.data,
          ...(tx.value !== undefined ? { value: BigInt(tx.value) } : {}),
        });
        return sent.hash;
      }
      case 'eth_signTypedData_v4': {
        if (this.options.declineSignatures)
          throw new Declined({ code: 4001, message: 'User rejected the request.' });
        const typed = JSON.parse(params[1] as string) as {
          types: Record<string, { name: string; type: string }[]>;
          domain: Record<string, unknown>;
          message: Record<string, unknown>;
        };
        const { EIP712Domain: _, ...types } = typed.types;
        // A wallet signs with the domain it is given; the page must put the wallet's chain there.
        return this.wallet.signTypedData(typed.domain, types, typed.message);
      }
      default:
        this.onAnvil();
        return this.provider.send(method, params);
    }
  }

  private onAnvil(): void {
    if (this.chainId !== this.anvilChainId)
      throw new Declined({ code: 4901, message: `the wallet is on chain ${this.chainId}` });
  }
}

/**
 * Injects `wallets` into every page of `page`'s context before its scripts run; returns the log of
 * the requests they answered.
 */
export async function injectWallets(
  page: Page,
  provider: JsonRpcProvider,
  anvilChainId: number,
  wallets: TestWalletOptions[],
): Promise<WalletCall[]> {
  const calls: WalletCall[] = [];
  const instances = wallets.map((w) => new TestWallet(w, provider, anvilChainId));
  await page.exposeBinding('__latchkeyTestWallet', async (_source, index: number, method: string, params) => {
    calls.push({ wallet: index, method, params });
    const w = instances[index];
    if (!w) return { error: { code: 4200, message: 'no such wallet' } };
    try {
      return { result: await w.handle(method, (params as unknown[] | undefined) ?? []) };
    } catch (e) {
      if (e instanceof Declined) return { error: e.rpc };
      return { error: { code: -32603, message: (e as Error).message } };
    }
  });
  const described = wallets.map((w, i) => ({
    index: i,
    name: w.name ?? `Test wallet ${i + 1}`,
    rdns: w.rdns ?? `org.latchkey.test${i + 1}`,
    legacy: w.legacy ?? false,
  }));
  await page.addInitScript((list: typeof described) => {
    type Binding = (i: number, m: string, p: unknown) => Promise<{ result?: unknown; error?: RpcError }>;
    const call = (window as unknown as { __latchkeyTestWallet: Binding }).__latchkeyTestWallet;
    for (const w of list) {
      const provider = {
        async request(args: { method: string; params?: unknown }) {
          const answer = await call(w.index, args.method, args.params);
          if (answer.error)
            throw Object.assign(new Error(answer.error.message), {
              code: answer.error.code,
              data: answer.error.data,
            });
          return answer.result;
        },
        on() {},
      };
      if (w.legacy) {
        (window as unknown as { ethereum: unknown }).ethereum = provider;
        continue;
      }
      const info = {
        uuid: `00000000-0000-4000-8000-00000000000${w.index}`,
        name: w.name,
        icon: 'data:image/svg+xml,<svg xmlns="http://www.w3.org/2000/svg"/>',
        rdns: w.rdns,
      };
      const announce = () =>
        window.dispatchEvent(
          new CustomEvent('eip6963:announceProvider', { detail: Object.freeze({ info, provider }) }),
        );
      window.addEventListener('eip6963:requestProvider', announce);
      announce();
    }
  }, described);
  return calls;
}
