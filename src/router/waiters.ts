/**
 * Requests and loads waiting on the scheduler, and the leases admitted ones get. A waiter is answered exactly once
 * (admitted, refused, or gone with its client); a lease gives its reference back exactly once, however often it is
 * released.
 */
import type { ModelSpec } from '../catalog/model-spec.js';
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
  /** Date.now() when it was queued (the queue-wait figure of the 'admitted' event). */
  since: number;
  signal?: Cancel;
  onAbort?: () => void;
  resolve(lease: Lease | undefined): void;
  reject(err: ModelError): void;
}

const gone = () => new ModelError('client_gone', 'client went away');

export class Waiters {
  readonly #waiting = new Map<string, Waiter>();
  #seq = 0;

  constructor(private readonly core: RouterCore) {}

  /**
   * Queue `model` for a request (resolves with a lease) or a load (resolves when ready). Not an async function: a
   * request for a loaded model is admitted while the scheduler handles it, and its one promise is already settled
   * when this returns (no promise of an async function wrapped around it: this is on every proxied request).
   */
  enqueue(model: string, kind: Kind, signal?: Cancel): Promise<Lease | undefined> {
    const core = this.core;
    const since = Date.now();
    let spec: ModelSpec;
    try {
      spec = core.models.require(model);
    } catch (err) {
      return Promise.reject(err);
    }
    if (signal?.aborted) return Promise.reject(gone());
    const name = spec.name;
    if (core.figures?.wanted(core.models.get(name)!)) {
      return core.figures.resolveNeed(spec).then(() => {
        // The abort listener is added below: a client that left during this wait would otherwise hold a queue place
        // (and maybe start a load) for nobody.
        if (signal?.aborted) throw gone();
        return this.wait(name, kind, since, signal);
      });
    }
    return this.wait(name, kind, since, signal);
  }

  private wait(model: string, kind: Kind, since: number, signal: Cancel | undefined): Promise<Lease | undefined> {
    const id = `${kind}-${++this.#seq}`;
    return new Promise<Lease | undefined>((resolve, reject) => {
      const w: Waiter = { model, kind, since, signal, resolve, reject };
      if (signal) {
        w.onAbort = () => {
          if (this.#waiting.delete(id)) {
            reject(gone());
            this.core.handle({ type: 'done', id, now: Date.now() });
          }
        };
        signal.addEventListener('abort', w.onAbort, { once: true });
      }
      this.#waiting.set(id, w);
      this.core.handle({ type: 'request', id, model, kind, now: Date.now() });
    });
  }

  /** The waiter leaves the map (answered): its client's leaving no longer concerns it. */
  #take(id: string): Waiter | undefined {
    const w = this.#waiting.get(id);
    if (!w) return undefined;
    this.#waiting.delete(id);
    if (w.onAbort) w.signal!.removeEventListener('abort', w.onAbort);
    return w;
  }

  admit(effect: Extract<Effect, { type: 'admit' }>): void {
    const w = this.#take(effect.id);
    if (!w) {
      // Admitted after its client left: give the reference straight back.
      this.core.handle({ type: 'done', id: effect.id, now: Date.now() });
      return;
    }
    if (w.kind === 'load') return w.resolve(undefined);
    w.resolve(this.lease(effect.id, effect.model));
    // For the queue-wait histogram in /metrics: how long this request waited to be admitted.
    this.core.emitAdmitted({ model: effect.model, waitMs: Date.now() - w.since });
  }

  reject(effect: Extract<Effect, { type: 'reject' }>): void {
    const w = this.#take(effect.id);
    if (!w) return;
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
