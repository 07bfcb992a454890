import { describe, expect, it } from 'vitest';
import { createLogger, silentLogger } from './log.js';
import { Scheduler } from './scheduler.js';

describe('Scheduler', () => {
  it('rejects an invalid cron pattern when built', () => {
    expect(() => new Scheduler([{ name: 'bad', cron: 'every second', run: () => {} }], silentLogger)).toThrow(
      /sweep bad: invalid cron pattern/,
    );
  });

  it('stop() waits for a sweep still running, so it never outlives the parts stopped after it', async () => {
    let finish: () => void = () => {};
    const events: string[] = [];
    const sweep = {
      name: 'slow',
      cron: '0 0 1 1 *',
      run: () =>
        new Promise<void>((resolve) => {
          finish = () => {
            events.push('sweep done');
            resolve();
          };
        }),
    };
    const scheduler = new Scheduler([sweep], silentLogger);
    scheduler.start();
    const running = scheduler.runOnce(sweep);
    const stopped = scheduler.stop().then(() => events.push('stopped'));
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(events).toEqual([]);
    finish();
    await Promise.all([running, stopped]);
    expect(events).toEqual(['sweep done', 'stopped']);
  });

  it('logs a failing sweep and keeps going', async () => {
    const warned: string[] = [];
    const log = createLogger('test', { level: 'warn', json: true, write: (line) => warned.push(line) });
    const scheduler = new Scheduler([], log);
    await scheduler.runOnce({
      name: 'boom',
      cron: '* * * * *',
      run: () => {
        throw new Error('disk full');
      },
    });
    expect(warned).toHaveLength(1);
    expect(warned[0]).toMatch(/sweep failed.*boom.*disk full/);
  });
});
