// `npm run demo`: the whole system on this machine and a scripted guest that rents, unlocks / powers,
// uses and checks out a lock and a socket, printing every step and checking the money to the wei.

import { formatEther } from 'ethers';
import { startEmbedded } from '../agent/embedded.js';
import { createLogger } from '../agent/log.js';
import { receiptCharge } from '../contracts/rental.js';
import type { Rental } from '../contracts/typedData.js';
import { Guest, receiptOf } from './client.js';
import { act, type Eip1193, memorySessions } from './session.js';

const say = (s: string) => process.stdout.write(`${s}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const eth = (wei: bigint) => `${formatEther(wei)} ETH`;

async function main(): Promise<void> {
  say('Starting a local chain, the contract, an MQTT broker and the agent ...');
  const e = await startEmbedded({ log: createLogger('latchkey', { level: 'error' }) });
  let failed = false;
  try {
    const account = e.guests[0];
    if (!account) throw new Error('no guest account');
    const guest = new Guest({
      privateKey: account.privateKey,
      provider: e.anvil.provider,
      contract: e.contractAddress,
      chainId: e.anvil.chainId,
      gatewayId: e.config.gatewayId,
      mqttUrl: e.broker.url,
      ...(e.broker.logins
        ? { mqttUsername: e.broker.logins.guest.username, mqttPassword: e.broker.logins.guest.password }
        : {}),
      httpUrl: e.httpUrl,
    });
    await guest.connect();
    // Every relay switch, once (a device also publishes its state when only its phase changes).
    const relays = new Map<bigint, string>();
    e.agent.on('state', (s) => {
      if (relays.get(s.deviceId) === s.relay) return;
      relays.set(s.deviceId, s.relay);
      say(
        `    relay of device ${s.deviceId} (${s.kind}) is ${s.relay === 'closed' ? 'CLOSED (energised)' : 'open (safe)'}`,
      );
    });
    say(`Contract ${e.contractAddress} on chain ${e.anvil.chainId}; guest ${guest.address}\n`);
    // The guest's wallet, as a page sees it (eth_signTypedData_v4), counting what it is asked to sign.
    let walletPrompts = 0;
    const wallet: Eip1193 = {
      request: async ({ params }) => {
        walletPrompts++;
        const typed = JSON.parse((params as [string, string])[1]);
        const { EIP712Domain: _, ...types } = typed.types;
        return guest.wallet.signTypedData(typed.domain, types, typed.message);
      },
    };
    // The session keys as the guest page keeps them (a browser keeps them in IndexedDB).
    const sessions = memorySessions();

    for (const device of e.devices) {
      say(`== ${device.kind} (device ${device.id}) ==`);
      const before = await e.anvil.provider.getBalance(guest.address);
      const quote = await guest.quote(device.id, 3600);
      const rented = await guest.rent(device.id, 3600);
      const { rental } = rented;
      say(
        `  rent 1 hour: deposit ${eth(rental.deposit)} = the most it can cost (rent ${eth(quote.rent)}` +
          (quote.energyWh > 0n && quote.energyCost > 0n
            ? `, ${quote.energyWh} Wh of energy prepaid for ${eth(quote.energyCost)})`
            : ')') +
          `   tx ${rented.txHash}`,
      );
      const [on, off] = device.kind === 'lock' ? (['unlock', 'lock'] as const) : (['on', 'off'] as const);
      const ref = {
        chainId: e.anvil.chainId,
        contract: e.contractAddress,
        rentalId: rental.id,
        end: rental.end,
      };
      const press = async (action: typeof on | typeof off | 'checkout', via: 'mqtt' | 'http') => {
        const promptsBefore = walletPrompts;
        const { reply } = await act({
          rental: ref,
          action,
          wallet,
          address: guest.address,
          store: sessions,
          send: (m) => guest.sendMessage(device.id, m, via),
        });
        const asked = walletPrompts - promptsBefore;
        say(
          `  ${action} over ${via === 'mqtt' ? 'MQTT' : 'LAN HTTP'}: ${reply.status}${reply.status === 'error' ? ` ${reply.error?.code}: ${reply.error?.message}` : ''} (${asked === 0 ? 'session key, no wallet prompt' : `${asked} wallet signature${asked > 1 ? 's' : ''}: the session grant`})`,
        );
        return reply;
      };
      while (e.agent.store.getRental(rental.id)?.status !== 'open') await sleep(100);
      while (Number(rental.start) > Math.floor(Date.now() / 1000)) await sleep(100); // chain time may lead
      const promptsAtRent = walletPrompts;
      const first = await press(on, 'mqtt');
      if (first.status !== 'ok') throw new Error(`${on} refused`);
      if (device.kind === 'socket') {
        await sleep(3000);
        e.agent.controllers.get(device.id)?.reportEnergy(12);
        say('  the (simulated) energy meter reports 12 Wh');
      } else {
        await sleep(6000); // the lock relocks by itself after its pulse
      }
      await press(off, 'http');
      const checkout = await press('checkout', 'mqtt');
      const signatures = walletPrompts - promptsAtRent;
      say(
        signatures === 1
          ? '  wallet signatures for this rental: 1, the session grant (besides the rent transaction)'
          : `  WALLET SIGNATURES FOR THIS RENTAL: ${signatures} (expected 1, the session grant)`,
      );
      failed ||= signatures !== 1;
      const signed = receiptOf(checkout as Parameters<typeof receiptOf>[0]);
      if (!signed) throw new Error(`checkout refused: ${JSON.stringify(checkout)}`);
      say(
        `  checkout: the device signed a receipt for ${signed.receipt.secondsUsed} s and ${signed.receipt.energyWh} Wh; the agent submits it`,
      );
      const settled = await guest.waitSettled(rental);
      const after = await e.anvil.provider.getBalance(guest.address);
      say(`  settled on chain   tx ${settled.txHash}`);
      say(`  charge ${eth(settled.charge)}   refund ${eth(settled.refund)}`);
      failed ||= !check(
        rental,
        signed.receipt,
        settled,
        before - rented.gasCost - rental.deposit + settled.refund,
        after,
      );
      say('');
    }
    const credit = await e.contract.credit(e.host.address);
    say(`Host credit to withdraw: ${eth(credit)}`);
    await guest.close();
  } finally {
    await e.stop();
  }
  if (failed) process.exit(1);
  say('Demo finished: one wallet signature per rental, and every amount matches the chain to the wei.');
}

function check(
  rental: Rental,
  receipt: { secondsUsed: bigint; energyWh: bigint },
  settled: { charge: bigint; refund: bigint },
  expectedBalance: bigint,
  balance: bigint,
): boolean {
  const charge = receiptCharge(rental, receipt);
  const ok =
    settled.charge === charge &&
    settled.charge + settled.refund === rental.deposit &&
    balance === expectedBalance;
  say(
    ok
      ? `  check: charge = price x use, charge + refund = deposit, guest balance = before - deposit - gas + refund: all exact`
      : `  CHECK FAILED: charge ${settled.charge} (expected ${charge}), balance ${balance} (expected ${expectedBalance})`,
  );
  return ok;
}

main().catch((e: unknown) => {
  process.stderr.write(`demo failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
