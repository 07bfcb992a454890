// What makes `latchkey register` idempotent: the host's device already registered with this signer
// under this name, found from the chain (the name rides on the registering call, see nameTag.ts).

import type { Provider } from 'ethers';
import { type DeviceRecord, hostDevices } from './history.js';
import type { LogRange } from './logs.js';

export async function findRegistered(
  provider: Provider,
  contract: string,
  want: { host: string; signer: string; name: string },
  range: LogRange,
): Promise<DeviceRecord | undefined> {
  const devices = await hostDevices(provider, contract, want.host, range);
  return devices.find((d) => d.name === want.name && d.signer === want.signer);
}
