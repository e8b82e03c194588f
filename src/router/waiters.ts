/**
 * Requests and loads waiting on the scheduler, and the leases admitted ones get. A waiter is answered exactly once
 * (admitted, refused, or gone with its client); a lease gives its reference back exactly once, however often it is
 * released.
 */
import type { Effect } from '../scheduler/types.js';
import type { RouterCore } from './core.js';
import { explainTooLarge } from './ctx-auto.js';
import { ModelError } from './errors.js';
import { externalRejection } from './external.js';
import type { Cancel, Lease } from './types.js';

type Kind = 'request' | 'load';

interface Waiter {
  model: string;
  kind: Kind;
  resolve(lease: Lease | undefined): void;
  reject(err: ModelError): void;
}

export class Waiters {
  readonly #waiting = new Map<string, Waiter>();
  #seq = 0;

  constructor(private readonly core: RouterCore) {}

  /** Queue `model` for a request (resolves with a lease) or a load (resolves when ready). */
  async enqueue(model: string, kind: Kind, signal?: Cancel): Promise<Lease | undefined> {
    const core = this.core;
    const spec = core.models.require(model);
    if (signal?.aborted) throw new ModelError('client_gone', 'client went away');
    const record = core.models.get(spec.name)!;
    if (core.figures?.wanted(record)) {
      await core.figures.resolveNeed(spec);
      // The abort listener is added below: a client that left during this wait would otherwise hold a queue place
      // (and maybe start a load) for nobody.
      if (signal?.aborted) throw new ModelError('client_gone', 'client went away');
    }
    const id = `${kind}-${++this.#seq}`;
    return new Promise<Lease | undefined>((resolve, reject) => {
      const onAbort = () => {
        if (this.#waiting.delete(id)) {
          reject(new ModelError('client_gone', 'client went away'));
          core.handle({ type: 'done', id, now: Date.now() });
        }
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      const settle = () => signal?.removeEventListener('abort', onAbort);
      this.#waiting.set(id, {
        model: spec.name,
        kind,
        resolve: (l) => (settle(), resolve(l)),
        reject: (e) => (settle(), reject(e)),
      });
      core.handle({ type: 'request', id, model: spec.name, kind, now: Date.now() });
    });
  }

  admit(effect: Extract<Effect, { type: 'admit' }>): void {
    const w = this.#waiting.get(effect.id);
    if (!w) {
      // Admitted after its client left: give the reference straight back.
      this.core.handle({ type: 'done', id: effect.id, now: Date.now() });
      return;
    }
    this.#waiting.delete(effect.id);
    w.resolve(w.kind === 'load' ? undefined : this.lease(effect.id, effect.model));
  }

  reject(effect: Extract<Effect, { type: 'reject' }>): void {
    const w = this.#waiting.get(effect.id);
    if (!w) return;
    this.#waiting.delete(effect.id);
    const record = this.core.models.get(w.model);
    const { kind, message, retryAfterS } = effect.error;
    // An external backend's failures are the backend's, not ours: retryable, and 'unreachable' when no connection was made.
    const external = record?.spec?.url ? externalRejection(kind, record.externalFailure) : undefined;
    w.reject(
      new ModelError(external?.kind ?? kind, kind === 'too_large' ? explainTooLarge(record?.spec, message) : message, {
        retryAfterS,
        retryable: external?.retryable,
      }),
    );
  }

  private lease(id: string, model: string): Lease {
    const core = this.core;
    const record = core.models.any(model);
    const run = record?.run;
    const external = run?.external;
    let released = false;
    return {
      model,
      // An external backend gets its own key (if its preset gives one), never the child key or the client's.
      target: external ? external.url : `http://${core.host}:${run?.backend.port}`,
      headers: external ? external.headers : { authorization: `Bearer ${run?.key}` },
      release: () => {
        if (released) return;
        released = true;
        core.handle({ type: 'done', id, now: Date.now() });
        // Memory right after load is lower than under load: measure again after the first request.
        if (run && !external && core.figures && !run.measuredAfterUse) {
          run.measuredAfterUse = true;
          void core.figures.measure(record.spec!, record, run);
        }
      },
    };
  }
}
