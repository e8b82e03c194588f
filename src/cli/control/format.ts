/** Plain-text formatting for the control subcommands: sizes, ages, aligned tables. */

export function bytes(n: number | undefined | null): string {
  if (n === undefined || n === null || !Number.isFinite(n)) return '-';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = Math.abs(n);
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  const digits = v >= 100 || i === 0 ? 0 : v >= 10 ? 1 : 2;
  return `${(Math.sign(n) * v).toFixed(digits)} ${units[i]}`;
}

export function ago(ms: number | null | undefined, now = Date.now()): string {
  if (!ms) return 'never';
  const s = Math.max(0, Math.round((now - ms) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} d ago`;
}

export function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

/**
 * Columns separated by two spaces; `right` columns are right-aligned (numbers). `paint` styles a cell after
 * it was padded (row -1 is the head), so escape codes never count towards a column's width.
 */
export function table(
  head: string[],
  rows: string[][],
  right: number[] = [],
  paint: (padded: string, row: number, col: number) => string = (s) => s,
): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[], row: number) => {
    const padded = cells.map((c, i) => (right.includes(i) ? c.padStart(widths[i]!) : i === cells.length - 1 ? c : c.padEnd(widths[i]!)));
    const last = padded.length - 1;
    padded[last] = padded[last]!.trimEnd();
    return padded.map((c, i) => paint(c, row, i)).join('  ').trimEnd();
  };
  return [line(head, -1), ...rows.map((r, i) => line(r, i))].join('\n') + '\n';
}
