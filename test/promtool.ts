// promtool (Debian's prometheus package) and the histogram rules its parser does not enforce, for the
// tests of /metrics.

import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

export const PROMTOOL = '/usr/bin/promtool';
/** True when promtool is not installed; in CI (CI set) that is an error instead. */
export const promtoolMissing = !existsSync(PROMTOOL);
if (promtoolMissing && process.env.CI) throw new Error(`${PROMTOOL} is missing: apt-get install prometheus`);

/** `promtool check metrics` (Debian's prometheus package): exit 0 and no lint findings. */
export function promtoolCheck(text: string): { code: number | null; output: string } {
  const run = spawnSync(PROMTOOL, ['check', 'metrics'], { input: text, encoding: 'utf8' });
  return { code: run.status, output: `${run.stdout}${run.stderr}`.trim() };
}

/**
 * What promtool's parser tolerates but Prometheus' histogram semantics do not: per series, buckets in
 * rising `le` order ending at +Inf, cumulative counts, and `_count` equal to the +Inf bucket.
 */
export function histogramProblems(text: string): string[] {
  const problems: string[] = [];
  const series = new Map<string, { les: number[]; counts: number[]; count?: number }>();
  for (const line of text.split('\n')) {
    const m = /^(\w+)_(bucket|count)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) continue;
    const [, name, part, labels = '', value] = m;
    const le = /(?:^|,)le="([^"]+)"/.exec(labels)?.[1];
    const key = `${name}{${labels.replace(/(?:^|,)le="[^"]+"/, '')}}`;
    const s = series.get(key) ?? { les: [], counts: [] };
    series.set(key, s);
    if (part === 'bucket' && le !== undefined) {
      s.les.push(le === '+Inf' ? Number.POSITIVE_INFINITY : Number(le));
      s.counts.push(Number(value));
    } else if (part === 'count') s.count = Number(value);
  }
  for (const [key, s] of series) {
    if (s.les.length === 0) continue;
    for (let i = 1; i < s.les.length; i++) {
      if (!((s.les[i] as number) > (s.les[i - 1] as number))) problems.push(`${key}: le out of order`);
      if ((s.counts[i] as number) < (s.counts[i - 1] as number))
        problems.push(`${key}: counts not cumulative`);
    }
    if (s.les.at(-1) !== Number.POSITIVE_INFINITY) problems.push(`${key}: +Inf is not the last bucket`);
    if (s.count !== s.counts.at(-1)) problems.push(`${key}: _count is not the +Inf bucket`);
  }
  return problems;
}
