import { describe, expect, it } from 'vitest';
import { parseFlags, renderHelp } from './flags.js';

const SPECS = {
  rpc: { type: 'string', required: true, value: '<url>', help: 'the RPC' },
  device: { type: 'string', multiple: true, help: 'a device' },
  'dry-run': { type: 'boolean', help: 'do nothing' },
  price: { type: 'string', help: 'a price' },
} as const;

describe('parseFlags', () => {
  it('reads strings, repeated flags and booleans', () => {
    const r = parseFlags(
      ['--rpc', 'http://x', '--device', '1:lock', '--device=2:socket', '--dry-run'],
      SPECS,
    );
    expect(r.problems).toEqual([]);
    expect(r.values).toEqual({ rpc: 'http://x', device: ['1:lock', '2:socket'], 'dry-run': true });
  });

  it('takes a negative number as a value, so its check can say it is negative', () => {
    expect(parseFlags(['--rpc', 'u', '--price', '-1'], SPECS).values.price).toBe('-1');
  });

  it('lists every problem of a command line at once', () => {
    const r = parseFlags(['--price', '--bogus', 'x', '--dry-run=yes', '--price=', '-z', '--device'], SPECS);
    expect(r.problems).toEqual([
      '--price needs a value',
      '--device needs a value',
      'unknown option --bogus',
      'unexpected argument "x"',
      '--dry-run takes no value',
      '--price needs a value',
      'unknown option -z',
      'missing --rpc',
    ]);
  });

  it('refuses a single-valued flag given twice', () => {
    expect(parseFlags(['--rpc', 'a', '--rpc', 'b'], SPECS).problems).toEqual([
      '--rpc is given more than once',
    ]);
  });

  it('renders every flag in the help', () => {
    const help = renderHelp('x --rpc <url>', 'Does x.', SPECS);
    for (const flag of ['--rpc <url>', '--device ...', '--dry-run', '--price', '--help'])
      expect(help).toContain(flag);
  });
});
