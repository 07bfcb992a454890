// A small metrics registry rendered in the Prometheus text format (0.0.4) for GET /metrics.

type Labels = Record<string, string>;

function key(labels: Labels): string {
  return Object.entries(labels)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k}="${v.replace(/["\\\n]/g, '_')}"`)
    .join(',');
}

/** Upper bounds (seconds) of the latency histogram buckets, rising. */
const BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

/** One histogram series: a count per bucket (not cumulative; summed when rendered), sum and count. */
interface Histogram {
  buckets: number[];
  sum: number;
  count: number;
}

type Family =
  | { help: string; type: 'counter' | 'gauge'; values: Map<string, number> }
  | { help: string; type: 'histogram'; series: Map<string, Histogram> };

export class Metrics {
  private readonly families = new Map<string, Family>();

  private family(name: string, help: string, type: Family['type']): Family {
    let f = this.families.get(name);
    if (!f) {
      f = type === 'histogram' ? { help, type, series: new Map() } : { help, type, values: new Map() };
      this.families.set(name, f);
    }
    if (f.type !== type) throw new TypeError(`metric ${name} is a ${f.type}, not a ${type}`);
    return f;
  }

  private values(name: string, help: string, type: 'counter' | 'gauge'): Map<string, number> {
    const f = this.family(name, help, type);
    if (f.type === 'histogram') throw new TypeError(`metric ${name} is a histogram`);
    return f.values;
  }

  inc(name: string, help: string, labels: Labels = {}, by = 1): void {
    const values = this.values(name, help, 'counter');
    const k = key(labels);
    values.set(k, (values.get(k) ?? 0) + by);
  }

  set(name: string, help: string, value: number, labels: Labels = {}): void {
    this.values(name, help, 'gauge').set(key(labels), value);
  }

  observe(name: string, help: string, seconds: number, labels: Labels = {}): void {
    const f = this.family(name, help, 'histogram');
    if (f.type !== 'histogram') throw new TypeError(`metric ${name} is a ${f.type}`);
    const k = key(labels);
    let h = f.series.get(k);
    if (!h) {
      h = { buckets: BUCKETS.map(() => 0), sum: 0, count: 0 };
      f.series.set(k, h);
    }
    const i = BUCKETS.findIndex((le) => seconds <= le);
    if (i >= 0) h.buckets[i] = (h.buckets[i] ?? 0) + 1;
    h.sum += seconds;
    h.count++;
  }

  /** A counter's or gauge's value; for a histogram, its observation count. */
  get(name: string, labels: Labels = {}): number | undefined {
    const f = this.families.get(name);
    if (!f) return undefined;
    return f.type === 'histogram' ? f.series.get(key(labels))?.count : f.values.get(key(labels));
  }

  render(): string {
    const lines: string[] = [];
    for (const [name, f] of this.families) {
      lines.push(`# HELP ${name} ${f.help}`, `# TYPE ${name} ${f.type}`);
      if (f.type !== 'histogram') {
        for (const [k, v] of f.values) lines.push(`${name}${k ? `{${k}}` : ''} ${v}`);
        continue;
      }
      for (const [k, h] of f.series) {
        const sep = k ? `${k},` : '';
        let cumulative = 0;
        BUCKETS.forEach((le, i) => {
          cumulative += h.buckets[i] ?? 0;
          lines.push(`${name}_bucket{${sep}le="${le}"} ${cumulative}`);
        });
        lines.push(`${name}_bucket{${sep}le="+Inf"} ${h.count}`);
        lines.push(
          `${name}_sum${k ? `{${k}}` : ''} ${h.sum}`,
          `${name}_count${k ? `{${k}}` : ''} ${h.count}`,
        );
      }
    }
    return `${lines.join('\n')}\n`;
  }
}
