import { describe, expect, it } from 'vitest';
import { histogramProblems, promtoolMissing as missing, promtoolCheck } from '../test/promtool.js';
import { Metrics } from './metrics.js';

describe.skipIf(missing)('Metrics rendered as Prometheus text', () => {
  it('passes promtool check metrics and orders every histogram, whatever order values come in', () => {
    const m = new Metrics();
    m.observe('latchkey_access_seconds', 'Token in to relay switched', 0.5);
    m.observe('latchkey_access_seconds', 'Token in to relay switched', 0.003);
    m.observe('latchkey_access_seconds', 'Token in to relay switched', 30);
    m.observe('latchkey_wait_seconds', 'A labelled histogram', 0.02, { via: 'mqtt' });
    m.observe('latchkey_wait_seconds', 'A labelled histogram', 0.0001, { via: 'http' });
    m.inc('latchkey_access_total', 'Access requests by outcome', { outcome: 'granted' });
    m.inc('latchkey_access_total', 'Access requests by outcome', { outcome: 'say "hi"\\\n' });
    m.set('latchkey_relay_closed', 'Relay energised (1) or safe (0)', 1, { device: '1' });
    const text = m.render();
    expect(promtoolCheck(text)).toEqual({ code: 0, output: '' });
    expect(histogramProblems(text)).toEqual([]);
    expect(text).toContain('latchkey_access_seconds_bucket{le="0.005"} 1\n');
    expect(text).toContain('latchkey_access_seconds_bucket{le="+Inf"} 3\n');
    expect(text).toContain('latchkey_wait_seconds_bucket{via="http",le="0.001"} 1\n');
  });

  it('finds the problems it looks for (the checks can fail)', () => {
    const bad =
      '# HELP h_seconds x\n# TYPE h_seconds histogram\nh_seconds_bucket{le="+Inf"} 2\nh_seconds_bucket{le="0.1"} 1\nh_seconds_sum 1\nh_seconds_count 2\n';
    expect(histogramProblems(bad)).toEqual([
      'h_seconds{}: le out of order',
      'h_seconds{}: counts not cumulative',
      'h_seconds{}: +Inf is not the last bucket',
      'h_seconds{}: _count is not the +Inf bucket',
    ]);
    expect(promtoolCheck('# TYPE y counter\ny 1\n').code).not.toBe(0);
  });
});

if (missing) describe.skip('promtool missing: apt-get install prometheus', () => {});
