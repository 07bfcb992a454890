// The gateway's public facts (chain, contract, gateway id, devices, broker login): from the page's
// own /api/info when the gateway serves it, or from the build-time config of a page hosted elsewhere
// (LATCHKEY_PAGE_CONFIG, see guest/build.mjs).

export interface GatewayInfo {
  gatewayId: string;
  chainId: string;
  contract: string;
  mqttPrefix: string;
  devices: { id: string; kind: 'lock' | 'socket'; pulseSeconds?: number }[];
  confirmations?: number;
  mqttWsUrl?: string;
  mqttUsername?: string;
  mqttPassword?: string;
  /** A public JSON-RPC URL of the chain for reading before a wallet is connected. */
  rpcUrl?: string;
  chainName?: string;
  /** Only from the embedded default (`npm start`): the key of its development wallet. */
  devWalletKey?: string;
}

export interface PageConfig extends Partial<GatewayInfo> {
  /** Where to read the gateway's /api/info when the page is not served by the gateway. */
  infoUrl?: string;
}

declare const __PAGE_CONFIG__: PageConfig;

export interface Loaded {
  info: GatewayInfo;
  /** The gateway's LAN HTTP origin, if this page can know it. */
  lanBase: string | undefined;
}

function complete(c: Partial<GatewayInfo>): c is GatewayInfo {
  return !!(c.gatewayId && c.chainId && c.contract && c.devices);
}

export async function loadInfo(location: Location): Promise<Loaded> {
  const built: PageConfig = typeof __PAGE_CONFIG__ === 'object' ? __PAGE_CONFIG__ : {};
  const url = new URL(built.infoUrl ?? '/api/info', location.href);
  try {
    const res = await fetch(url, { cache: 'no-store' });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    const served = (await res.json()) as GatewayInfo;
    return {
      info: { ...built, ...served, mqttPrefix: served.mqttPrefix ?? built.mqttPrefix ?? 'latchkey' },
      lanBase: url.origin,
    };
  } catch (e) {
    const fallback = { ...built, mqttPrefix: built.mqttPrefix ?? 'latchkey' };
    if (complete(fallback)) return { info: fallback, lanBase: undefined };
    throw e;
  }
}
