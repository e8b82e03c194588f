import { mkdirSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { memoryArgs } from './args.js';

type Logger = (msg: string) => void;

export interface ModelFileIdentity {
  path: string;
  size: number;
  mtimeMs: number;
}

export interface LedgerEntry {
  devices: Record<string, number>;
  /** ISO time of the last record. */
  recordedAt: string;
  /** How many records were merged into this entry. */
  samples: number;
}

export interface LedgerOptions {
  logger?: Logger;
  /** Entries kept on disk, most recently recorded first. Default 1000. */
  maxEntries?: number;
}

const FILE = 'memory-ledger.json';
const VERSION = 1;

/**
 * What models were seen to use, per device, keyed by the model file's identity and the child
 * arguments that change memory. The most trusted need after an explicit override: a measured figure
 * beats any estimate.
 *
 * Persisted as JSON in `stateDir/memory-ledger.json`, rewritten atomically (temp file + rename) on
 * every change, so a crash never leaves half a file. Synchronous on purpose: the file is small, writes
 * are rare (only when a figure grows), and a sync write cannot interleave with another.
 * A state dir that cannot be written is logged once; the ledger then lives in memory only.
 */
export class MemoryLedger {
  /** Its file, for messages. */
  readonly file: string;
  private readonly log: Logger;
  private readonly maxEntries: number;
  private entries = new Map<string, LedgerEntry>();
  private writable = true;

  constructor(
    readonly stateDir: string,
    opts: LedgerOptions = {},
  ) {
    this.file = path.join(stateDir, FILE);
    this.log = opts.logger ?? (() => {});
    this.maxEntries = opts.maxEntries ?? 1000;
    this.load();
  }

  /**
   * `path|size|mtime|backend|ctx-size=4096,parallel=2`: readable in the JSON file, and a different key
   * whenever the file is replaced (size or mtime) or a memory setting changes. `backend` separates the
   * same model under different servers (llama-server vs the bundled engine), which use memory differently.
   */
  key(modelFile: ModelFileIdentity, childArgs: readonly string[], extra: { env?: Record<string, string | undefined>; backend?: string } = {}): string {
    const settings = memoryArgs(childArgs, extra.env);
    const args = Object.keys(settings)
      .sort()
      .map((k) => `${k}=${settings[k]}`)
      .join(',');
    return [path.resolve(modelFile.path), modelFile.size, Math.round(modelFile.mtimeMs), extra.backend ?? '', args].join('|');
  }

  get(key: string): Record<string, number> | undefined {
    const e = this.entries.get(key);
    return e ? { ...e.devices } : undefined;
  }

  entry(key: string): LedgerEntry | undefined {
    const e = this.entries.get(key);
    return e ? { ...e, devices: { ...e.devices } } : undefined;
  }

  /**
   * Record what a child was seen to use. By default the figure per device only grows (`max` with what
   * is known): a model measured right after load, before its KV cache pages were touched, must not
   * lower what it was seen to need under load. `replace: true` overwrites (e.g. after an engine upgrade).
   */
  record(key: string, devices: Record<string, number>, opts: { replace?: boolean } = {}): void {
    const clean: Record<string, number> = {};
    for (const [d, b] of Object.entries(devices)) {
      if (Number.isFinite(b) && b > 0) clean[d] = Math.round(b);
    }
    const old = this.entries.get(key);
    let merged = clean;
    if (old && !opts.replace) {
      merged = { ...old.devices };
      for (const [d, b] of Object.entries(clean)) merged[d] = Math.max(merged[d] ?? 0, b);
    }
    const changed = !old || JSON.stringify(sorted(old.devices)) !== JSON.stringify(sorted(merged));
    // Re-insert so Map order is recency order (used when trimming).
    this.entries.delete(key);
    this.entries.set(key, { devices: merged, recordedAt: new Date().toISOString(), samples: (old?.samples ?? 0) + 1 });
    if (changed) this.save();
  }

  /**
   * Drop figures this machine cannot have measured: a device it does not have, or more than that device holds.
   * `devices` is a fresh reading of every device (names as the monitor gives them). Returns the keys dropped.
   */
  dropImplausible(devices: readonly { name: string; total: number }[]): string[] {
    if (devices.length === 0) return [];
    const totals = new Map(devices.map((d) => [d.name, d.total]));
    const dropped: string[] = [];
    for (const [key, e] of this.entries) {
      for (const [d, b] of Object.entries(e.devices)) {
        const total = totals.get(d);
        const why = total === undefined ? `this machine has no device ${d}` : b > total ? `${b} bytes on ${d}, which has ${total}` : undefined;
        if (!why) continue;
        this.log(`memory ledger: ${this.file}: dropping the figure for model ${modelOfKey(key)}: ${why}`);
        dropped.push(key);
        break;
      }
    }
    for (const key of dropped) this.entries.delete(key);
    if (dropped.length > 0) this.save();
    return dropped;
  }

  forget(key: string): void {
    if (this.entries.delete(key)) this.save();
  }

  keys(): string[] {
    return [...this.entries.keys()];
  }

  private load(): void {
    let text: string;
    try {
      text = readFileSync(this.file, 'utf8');
    } catch (err) {
      // Nothing recorded yet (or the dir is not there): not worth a line; a failing write will say so.
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR') this.log(`memory ledger: cannot read ${this.file} (${(err as Error).message}); starting empty`);
      return;
    }
    try {
      const data = JSON.parse(text) as { version?: number; entries?: Record<string, LedgerEntry> };
      if (data.version !== VERSION || typeof data.entries !== 'object' || data.entries === null) throw new Error(`unknown format (version ${data.version})`);
      const list: [string, LedgerEntry][] = [];
      let dropped = 0;
      for (const [key, e] of Object.entries(data.entries)) {
        const bad = malformed(e);
        if (bad) {
          // A state dir is shared (a home on NFS, a copied cache) or edited: one bad figure must not make its
          // model answer 507 for ever. Dropped, the model is probed or estimated as if new, then measured again.
          this.log(`memory ledger: ${this.file}: dropping the figure for model ${modelOfKey(key)}: ${bad}`);
          dropped++;
          continue;
        }
        list.push([key, { devices: { ...e.devices }, recordedAt: String(e.recordedAt ?? ''), samples: Number(e.samples) || 1 }]);
      }
      list.sort((a, b) => String(a[1].recordedAt).localeCompare(String(b[1].recordedAt)));
      this.entries = new Map(list);
      if (dropped > 0) this.save();
    } catch (err) {
      // Keep the unreadable file for a human to look at; the next save writes a fresh one.
      this.log(`memory ledger: ${this.file} is not a ledger (${(err as Error).message}); starting empty, kept as ${FILE}.bad`);
      try {
        renameSync(this.file, this.file + '.bad');
      } catch {
        /* read-only: the save will say so */
      }
    }
  }

  private save(): void {
    if (!this.writable) return;
    while (this.entries.size > this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
    const data = { version: VERSION, entries: Object.fromEntries(this.entries) };
    const tmp = `${this.file}.${process.pid}.tmp`;
    try {
      mkdirSync(this.stateDir, { recursive: true });
      writeFileSync(tmp, JSON.stringify(data, null, 1) + '\n');
      renameSync(tmp, this.file);
    } catch (err) {
      this.writable = false;
      try {
        unlinkSync(tmp);
      } catch {
        /* never written */
      }
      this.log(`memory ledger: cannot write ${this.file} (${(err as Error).message}); measured figures kept in memory only`);
    }
  }
}

/** Why an entry read from disk is not a ledger entry (finite, positive byte counts per device), or undefined. */
function malformed(e: unknown): string | undefined {
  if (e === null || typeof e !== 'object') return 'not an object';
  const { devices } = e as Partial<LedgerEntry>;
  if (devices === null || typeof devices !== 'object' || Array.isArray(devices)) return 'no devices';
  const list = Object.entries(devices as Record<string, unknown>);
  if (list.length === 0) return 'no devices';
  for (const [d, b] of list) {
    if (typeof b !== 'number' || !Number.isFinite(b) || b <= 0) return `${d} = ${JSON.stringify(b) ?? String(b)} is not a positive number of bytes`;
    if (!Number.isSafeInteger(Math.round(b))) return `${d} = ${b} bytes is beyond any device`;
  }
  return undefined;
}

/** The model file in a ledger key (`path|size|mtime|backend|args`), for messages. */
function modelOfKey(key: string): string {
  return key.split('|')[0] ?? key;
}

function sorted(o: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(o).sort(([a], [b]) => a.localeCompare(b)));
}
