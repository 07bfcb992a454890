// A small metrics registry rendered in the Prometheus text format for GET /metrics.

type Labels = Record<string, string>;

function key(labels: Labels): string {
  return Object.entries(labels)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k}="${v.replace(/["\\\n]/g, '_')}"`)
    .join(',');
}

interface Family {
  help: string;
  type: 'counter' | 'gauge' | 'histogram';
  values: Map<string, number>;
}

/** Upper bounds (seconds) of the latency histogram buckets. */
const BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

export class Metrics {
  private readonly families = new Map<string, Family>();

  private family(name: string, help: string, type: Family['type']): Family {
    let f = this.families.get(name);
    if (!f) {
      f = { help, type, values: new Map() };
      this.families.set(name, f);
    }
    return f;
  }

  inc(name: string, help: string, labels: Labels = {}, by = 1): void {
    const f = this.family(name, help, 'counter');
    const k = key(labels);
    f.values.set(k, (f.values.get(k) ?? 0) + by);
  }

  set(name: string, help: string, value: number, labels: Labels = {}): void {
    this.family(name, help, 'gauge').values.set(key(labels), value);
  }

  observe(name: string, help: string, seconds: number, labels: Labels = {}): void {
    const f = this.family(name, help, 'histogram');
    const base = key(labels);
    const sep = base ? `${base},` : '';
    for (const le of BUCKETS) {
      if (seconds <= le) f.values.set(`${sep}le="${le}"`, (f.values.get(`${sep}le="${le}"`) ?? 0) + 1);
    }
    f.values.set(`${sep}le="+Inf"`, (f.values.get(`${sep}le="+Inf"`) ?? 0) + 1);
    f.values.set(`sum:${base}`, (f.values.get(`sum:${base}`) ?? 0) + seconds);
    f.values.set(`count:${base}`, (f.values.get(`count:${base}`) ?? 0) + 1);
  }

  get(name: string, labels: Labels = {}): number | undefined {
    return this.families.get(name)?.values.get(key(labels));
  }

  render(): string {
    const lines: string[] = [];
    for (const [name, f] of this.families) {
      lines.push(`# HELP ${name} ${f.help}`, `# TYPE ${name} ${f.type}`);
      for (const [k, v] of f.values) {
        if (f.type !== 'histogram') lines.push(`${name}${k ? `{${k}}` : ''} ${v}`);
        else if (k.startsWith('sum:')) lines.push(`${name}_sum${k.length > 4 ? `{${k.slice(4)}}` : ''} ${v}`);
        else if (k.startsWith('count:'))
          lines.push(`${name}_count${k.length > 6 ? `{${k.slice(6)}}` : ''} ${v}`);
        else lines.push(`${name}_bucket{${k}} ${v}`);
      }
    }
    return `${lines.join('\n')}\n`;
  }
}
