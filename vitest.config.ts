import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['{agent,contracts,hardware,provisioning,guest,test}/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
});
