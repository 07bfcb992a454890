// A Shelly Gen2 plug (simulated at the protocol level, on the host's own broker) loses power in the
// middle of a socket rental, through the whole agent on anvil: its will says offline, the device
// state on MQTT and on the LAN says so, a guest's `on` is refused with `device-offline`; it boots
// back off, and the agent powers it again because the rental is live. The lease still ends it and
// the receipt settles on chain.

import { afterAll, beforeAll, expect, it } from 'vitest';
import { DEMO_PRICES, type Embedded } from '../agent/embedded.js';
import { type BrokerUnderTest, startAedes } from '../agent/mqtt/testkit.js';
import { decodeState } from '../agent/mqtt/topics.js';
import { rentDevice } from '../contracts/rental.js';
import { SimShelly } from '../hardware/test/mqttDeviceSims.js';
import {
  actWhenLive,
  asGuest,
  deviceState,
  guestLogin,
  MqttWatch,
  ok,
  settled,
  startWithDevices,
  submittedReceipt,
  waitFor,
} from './system.js';

const PREFIX = 'shellyplusplugs-outage';
const SOCKET = 3n;
let plugBroker: BrokerUnderTest;
let plug: SimShelly;
let e: Embedded;

beforeAll(async () => {
  plugBroker = await startAedes();
  plug = new SimShelly(plugBroker.url, PREFIX);
  await plug.connect();
  e = await startWithDevices([
    {
      config: {
        id: SOCKET,
        kind: 'socket',
        pulseSeconds: 5,
        relay: { driver: 'shelly', url: plugBroker.url, prefix: PREFIX },
      },
      spec: { kind: 'socket', ...DEMO_PRICES.socket, minDuration: 1 },
    },
  ]);
}, 60_000);

afterAll(async () => {
  await e?.stop();
  await plug?.stop();
  await plugBroker?.stop();
});

it('a plug that goes offline mid-rental is shown offline, refuses on, and is powered again on its return', {
  timeout: 90_000,
}, async () => {
  const states = await MqttWatch.open(
    e.broker.url,
    [`latchkey/${e.config.gatewayId}/${SOCKET}/state`],
    guestLogin(e),
  );
  try {
    await asGuest(e, 0, async ({ guest, contract }) => {
      const duration = 20;
      const { rental } = await rentDevice(contract, SOCKET, duration);
      ok(await actWhenLive(guest, rental, 'on'), 'power on');
      expect(plug.on).toBe(true);

      const since = states.seen.length;
      await plug.powerCut(); // the broker publishes its will: <prefix>/online false
      const offline = await states.next(
        (m) => decodeState(m.payload).health === 'offline',
        'the state topic says offline',
        since,
      );
      expect(decodeState(offline.payload)).toMatchObject({ rentalId: rental.id.toString() });
      expect(await deviceState(e.httpUrl, SOCKET)).toMatchObject({ health: 'offline', phase: 'closed' });

      const refused = await guest.act(rental, 'on');
      expect(refused).toMatchObject({ status: 'error', error: { code: 'device-offline' } });
      if (refused.status === 'error') expect(refused.error.message).toMatch(/offline since/);
      const overHttp = await guest.act(rental, 'on', 'http');
      expect(overHttp).toMatchObject({ status: 'error', error: { code: 'device-offline' } });

      const back = states.seen.length;
      await plug.powerOn(false); // it boots off (initial_state: off)
      await waitFor(() => plug.on, 'the agent powers the plug again', 15_000, 20);
      await states.next(
        (m) => {
          const s = decodeState(m.payload);
          return s.health === undefined && s.relay === 'closed';
        },
        'the state topic says online and on',
        back,
      );
      expect(await deviceState(e.httpUrl, SOCKET)).toMatchObject({ relay: 'closed', phase: 'closed' });
      expect((await deviceState(e.httpUrl, SOCKET)) as object).not.toHaveProperty('health');

      // The lease ends the rental by itself; the receipt settles it.
      await waitFor(() => !plug.on, 'the plug is off after the rental', 45_000, 50);
      const settlement = await settled(e.anvil.provider, e.contractAddress, rental.id, 30_000);
      expect(settlement.byReceipt).toBe(true);
      const receipt = await submittedReceipt(e.anvil.provider, settlement);
      expect(receipt.secondsUsed).toBeGreaterThan(0n);
      expect(receipt.secondsUsed).toBeLessThanOrEqual(BigInt(duration));
      expect(settlement.charge + settlement.refund).toBe(rental.deposit);
    });
  } finally {
    await states.close();
  }
});
