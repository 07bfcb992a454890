// A process that opens one gpio relay, for the tests inside the VM that need a separate process:
// one killed while it holds a door unlocked, one started fresh after a power cycle, one run as a
// user without GPIO permission. Prints one JSON line per step; `hold` waits to be killed.
// gpio.vm.ts bundles it once (plain node starts far faster than tsx on an emulated CPU):
//   node gpioOpen.cjs '<relay config JSON>' start|close|hold...

import { silentLogger } from '../../agent/log.js';
import { createDriverContext, createRelay, type RelayConfig } from '../drivers.js';

async function main(): Promise<void> {
  const [configJson, ...steps] = process.argv.slice(2);
  // Run as another user from here on: the driver and its addon are loaded first, as root, so that a
  // checkout only root may read (a mode-700 clone) still works; what is tested is the kernel's no.
  const uid = process.env.GPIO_OPEN_AS_UID;
  if (uid !== undefined) {
    await import('onoff');
    await import('../gpio.js');
    process.setgid?.(Number(uid));
    process.setuid?.(Number(uid));
  }
  const relay = await createRelay(
    JSON.parse(configJson ?? '{}') as RelayConfig,
    createDriverContext(silentLogger),
  );
  for (const step of steps) {
    try {
      if (step === 'start') await relay.start();
      else if (step === 'close') await relay.close();
      else if (step === 'hold') {
        console.log(JSON.stringify({ step, ok: true }));
        setInterval(() => {}, 60_000);
        await new Promise(() => {});
      }
      console.log(JSON.stringify({ step, ok: true }));
    } catch (e) {
      console.log(JSON.stringify({ step, ok: false, error: (e as Error).message }));
      process.exit(1);
    }
  }
  process.exit(0);
}

void main();
