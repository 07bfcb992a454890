// The vitest run inside the gpio VM (hardware/test/gpioVm.ts): only the suites that need gpio-sim,
// one file at a time, with caches in the VM's tmpfs (the repository is mounted read-only there).
import { defineConfig } from 'vitest/config';

export default defineConfig({
  cacheDir: '/tmp/vite-cache',
  test: {
    include: ['hardware/gpio.vm.ts', 'test/agent-gpio.vm.ts'],
    fileParallelism: false,
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
});
