/**
 * The router's models by name: one record each (model-record.ts), the aliases that lead to them, and the presets
 * that are broken (listed, never served). Lookups only; what a record's model does is the router's business.
 */
import type { ModelSpec } from '../catalog/model-spec.js';
import { ModelError } from './errors.js';
import { ModelRecord } from './model-record.js';

export class ModelTable {
  /** Every model the router has known, catalogued first in catalogue order; removed ones keep their record. */
  readonly #records = new Map<string, ModelRecord>();
  readonly #aliases = new Map<string, string>();
  readonly #invalid = new Map<string, string>();

  constructor(private readonly logLines: number) {}

  /** The record of a model in the catalogue now. */
  get(name: string): ModelRecord | undefined {
    const r = this.#records.get(name);
    return r?.spec ? r : undefined;
  }

  /** The record of any model the router has known, removed or not (its backend may still run). */
  any(name: string): ModelRecord | undefined {
    return this.#records.get(name);
  }

  /** Every record, removed models' too (for shutdown). */
  all(): ModelRecord[] {
    return [...this.#records.values()];
  }

  /** The catalogued models' presets, in catalogue order. */
  specs(): ModelSpec[] {
    const out: ModelSpec[] = [];
    for (const r of this.#records.values()) if (r.spec) out.push(r.spec);
    return out;
  }

  resolve(nameOrAlias: string): ModelSpec | undefined {
    return (this.get(nameOrAlias) ?? this.get(this.#aliases.get(nameOrAlias) ?? ''))?.spec;
  }

  /** The model a client named, or the catalogue error that says why there is none. */
  require(nameOrAlias: string): ModelSpec {
    const spec = this.resolve(nameOrAlias);
    if (spec) return spec;
    const invalid = this.#invalid.get(nameOrAlias);
    if (invalid) throw new ModelError('invalid', `model '${nameOrAlias}' has a bad preset: ${invalid}`);
    throw new ModelError('not_found', `model '${nameOrAlias}' not found`);
  }

  /**
   * Add a model or replace its preset. A model added back after a removal keeps its record (log, running backend)
   * but goes to the end of the list, as a new model does. A new preset's need is not known yet.
   */
  set(spec: ModelSpec): ModelRecord {
    let r = this.#records.get(spec.name);
    if (!r) {
      r = new ModelRecord(spec, this.logLines);
      this.#records.set(spec.name, r);
    } else {
      if (!r.spec) {
        this.#records.delete(spec.name);
        this.#records.set(spec.name, r);
      }
      if (r.spec !== spec) r.needUnknown = false;
      r.spec = spec;
    }
    for (const a of spec.aliases) this.#aliases.set(a, spec.name);
    return r;
  }

  /** A reload dropped the model: it is no longer listed or served; its record stays for its backend. */
  remove(name: string): ModelRecord | undefined {
    const r = this.#records.get(name);
    if (r) r.spec = undefined;
    return r;
  }

  /** Aliases again from the catalogued presets (a reload may move an alias from one model to another). */
  reindexAliases(): void {
    this.#aliases.clear();
    for (const spec of this.specs()) for (const a of spec.aliases) this.#aliases.set(a, spec.name);
  }

  setInvalid(list: { name: string; error: string }[]): void {
    this.#invalid.clear();
    for (const i of list) this.#invalid.set(i.name, i.error);
  }

  invalid(): { name: string; error: string }[] {
    return [...this.#invalid].map(([name, error]) => ({ name, error }));
  }
}
