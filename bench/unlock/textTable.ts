// The unlock benchmark's tables as text: columns padded for the terminal, and the same rows as Markdown
// for bench/results/unlock.md.

/** A titled table: the first row is the header. */
export interface TextTable {
  title: string;
  rows: string[][];
}

/** The rows (the first is the header) with every column padded to its widest cell, a rule under the header. */
export function alignedLines(rows: readonly (readonly string[])[]): string[] {
  const columns = Math.max(...rows.map((r) => r.length));
  const w = Array.from({ length: columns }, (_, i) => Math.max(...rows.map((row) => row[i]?.length ?? 0)));
  const line = (row: readonly string[]) =>
    w
      .map((n, i) => (row[i] ?? '').padEnd(n))
      .join('  ')
      .trimEnd();
  const [header, ...body] = rows;
  return header ? [line(header), w.map((n) => '-'.repeat(n)).join('  '), ...body.map(line)] : [];
}

/** The rows (the first is the header) as a Markdown table. */
export function markdownLines(rows: readonly (readonly string[])[]): string[] {
  const columns = Math.max(...rows.map((r) => r.length));
  const cell = (c: string | undefined) => (c ?? '').replace(/\|/g, '\\|');
  const line = (row: readonly string[]) =>
    `| ${Array.from({ length: columns }, (_, i) => cell(row[i])).join(' | ')} |`;
  const [header, ...body] = rows;
  return header ? [line(header), `|${' --- |'.repeat(columns)}`, ...body.map(line)] : [];
}

/** A Markdown document: the heading, then each table under its title. */
export function markdownDocument(heading: string, tables: readonly TextTable[]): string {
  return `# ${heading}\n${tables.map((t) => `\n## ${t.title}\n\n${markdownLines(t.rows).join('\n')}\n`).join('')}`;
}
