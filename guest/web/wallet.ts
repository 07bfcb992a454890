// Finding and talking to the guest's wallet: EIP-6963 discovery (every injected wallet announces
// itself; the guest picks one), then the legacy window.ethereum; connecting, switching or adding the
// chain, and turning wallet errors into a small code union the page has words for.

export interface Eip1193Provider {
  request(args: { method: string; params?: readonly unknown[] | object }): Promise<unknown>;
  on?(event: string, listener: (...args: unknown[]) => void): void;
}

export interface WalletChoice {
  /** EIP-6963 rdns (e.g. io.metamask), or 'injected' for window.ethereum. */
  id: string;
  name: string;
  icon?: string;
  provider: Eip1193Provider;
}

interface AnnounceDetail {
  info: { uuid: string; name: string; icon: string; rdns: string };
  provider: Eip1193Provider;
}

/** Collects EIP-6963 announcements for `waitMs`, then adds window.ethereum if no wallet announced. */
export async function discoverWallets(waitMs = 400): Promise<WalletChoice[]> {
  const found = new Map<string, WalletChoice>();
  const onAnnounce = (event: Event) => {
    const detail = (event as CustomEvent<AnnounceDetail>).detail;
    if (!detail?.info || typeof detail.provider?.request !== 'function') return;
    const key = detail.info.rdns || detail.info.uuid;
    found.set(key, { id: key, name: detail.info.name, icon: detail.info.icon, provider: detail.provider });
  };
  window.addEventListener('eip6963:announceProvider', onAnnounce);
  window.dispatchEvent(new Event('eip6963:requestProvider'));
  await new Promise((resolve) => setTimeout(resolve, waitMs));
  window.removeEventListener('eip6963:announceProvider', onAnnounce);
  const wallets = [...found.values()];
  const legacy = (window as { ethereum?: Eip1193Provider }).ethereum;
  if (wallets.length === 0 && legacy && typeof legacy.request === 'function')
    wallets.push({ id: 'injected', name: 'Browser wallet', provider: legacy });
  return wallets;
}

export type WalletErrorCode =
  | 'rejected'
  | 'locked'
  | 'pending'
  | 'chain-unknown'
  | 'unsupported'
  | 'disconnected'
  | 'other';

export class WalletError extends Error {
  override readonly name = 'WalletError';
  constructor(
    readonly code: WalletErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The numeric EIP-1193 / JSON-RPC code of a wallet error, looking inside MetaMask mobile's nesting. */
export function providerCode(e: unknown): number | undefined {
  const o = e as { code?: unknown; data?: { originalError?: { code?: unknown } } } | undefined;
  const nested = o?.data?.originalError?.code;
  if (typeof nested === 'number') return nested;
  return typeof o?.code === 'number' ? o.code : undefined;
}

export function walletError(e: unknown): WalletError {
  if (e instanceof WalletError) return e;
  const code = providerCode(e);
  const message = (e as { message?: unknown })?.message;
  const text = typeof message === 'string' ? message : String(e);
  const kind: WalletErrorCode =
    code === 4001
      ? 'rejected'
      : code === 4100
        ? 'locked'
        : code === -32002
          ? 'pending'
          : code === 4902
            ? 'chain-unknown'
            : code === 4200 || code === -32601
              ? 'unsupported'
              : code === 4900 || code === 4901
                ? 'disconnected'
                : 'other';
  return new WalletError(kind, text, { cause: e });
}

async function ask<T>(p: Eip1193Provider, method: string, params?: readonly unknown[]): Promise<T> {
  try {
    return (await p.request(params === undefined ? { method } : { method, params })) as T;
  } catch (e) {
    throw walletError(e);
  }
}

/** Asks the wallet for its accounts (opens its prompt); the first is the guest. */
export async function connectWallet(p: Eip1193Provider): Promise<string> {
  const accounts = await ask<string[]>(p, 'eth_requestAccounts');
  const first = accounts[0];
  if (!first) throw new WalletError('locked', 'the wallet returned no account');
  return first;
}

export async function walletChainId(p: Eip1193Provider): Promise<bigint> {
  return BigInt(await ask<string>(p, 'eth_chainId'));
}

export interface ChainParams {
  chainId: bigint;
  chainName: string;
  rpcUrls: string[];
  nativeCurrency: { name: string; symbol: string; decimals: number };
}

/**
 * Makes the wallet's active chain `params.chainId`: switches, and on 4902 (unknown chain; MetaMask
 * mobile nests it in data.originalError) adds it, which also switches. `say` reports each step.
 */
export async function ensureChain(
  p: Eip1193Provider,
  params: ChainParams,
  say: (step: 'switch' | 'add') => void,
): Promise<void> {
  if ((await walletChainId(p)) === params.chainId) return;
  const hex = `0x${params.chainId.toString(16)}`;
  say('switch');
  try {
    await ask(p, 'wallet_switchEthereumChain', [{ chainId: hex }]);
  } catch (e) {
    if (!(e instanceof WalletError) || e.code !== 'chain-unknown' || params.rpcUrls.length === 0) throw e;
    say('add');
    await ask(p, 'wallet_addEthereumChain', [
      {
        chainId: hex,
        chainName: params.chainName,
        rpcUrls: params.rpcUrls,
        nativeCurrency: params.nativeCurrency,
      },
    ]);
  }
  const now = await walletChainId(p);
  if (now !== params.chainId)
    throw new WalletError('other', `the wallet stayed on chain ${now} instead of ${params.chainId}`);
}

/** Sends a transaction from the guest; returns its hash. */
export function sendTransaction(
  p: Eip1193Provider,
  tx: { from: string; to: string; data: string; value?: bigint },
): Promise<string> {
  return ask<string>(p, 'eth_sendTransaction', [
    {
      from: tx.from,
      to: tx.to,
      data: tx.data,
      ...(tx.value !== undefined ? { value: `0x${tx.value.toString(16)}` } : {}),
    },
  ]);
}

/** Signs EIP-712 typed data (the JSON form of eth_signTypedData_v4). */
export function signTypedData(p: Eip1193Provider, from: string, typedDataJson: string): Promise<string> {
  return ask<string>(p, 'eth_signTypedData_v4', [from, typedDataJson]);
}

/** Links that reopen this page inside a wallet app's browser, for a page opened by the camera app. */
export function deepLinks(href: string): { wallet: string; url: string }[] {
  const url = new URL(href);
  const bare = `${url.host}${url.pathname}${url.search}`;
  return [
    { wallet: 'MetaMask', url: `https://metamask.app.link/dapp/${bare}` },
    { wallet: 'Coinbase Wallet', url: `https://go.cb-w.com/dapp?cb_url=${encodeURIComponent(href)}` },
    {
      wallet: 'Trust Wallet',
      url: `https://link.trustwallet.com/open_url?coin_id=60&url=${encodeURIComponent(href)}`,
    },
  ];
}
