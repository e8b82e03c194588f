/** A tiny driver for the pure scheduler: events in, effects out, a clock we move by hand. */
import { Scheduler } from '../../src/scheduler/scheduler.js';
import type { Effect, ModelPolicy, SchedulerConfig } from '../../src/scheduler/types.js';

export const GiB = 2 ** 30;

export class Driver {
  readonly s: Scheduler;
  now = 1000;
  log: Effect[] = [];
  private seq = 0;

  constructor(config: Partial<SchedulerConfig>, models: (Partial<ModelPolicy> & { name: string })[]) {
    this.s = new Scheduler(
      { marginBytes: null, ...config },
      models.map((m) => ({ priority: 0, pin: false, ...m })),
    );
  }

  private run(e: Parameters<Scheduler['handle']>[0]): Effect[] {
    const out = this.s.handle(e);
    this.log.push(...out);
    return out;
  }

  at(ms: number): this {
    this.now = ms;
    return this;
  }
  request(model: string, id = `r${++this.seq}`): { id: string; effects: Effect[] } {
    return { id, effects: this.run({ type: 'request', id, model, now: ++this.now }) };
  }
  load(model: string, id = `l${++this.seq}`) {
    return { id, effects: this.run({ type: 'request', id, model, kind: 'load', now: ++this.now }) };
  }
  done(id: string) {
    return this.run({ type: 'done', id, now: ++this.now });
  }
  ready(model: string) {
    return this.run({ type: 'ready', model, now: ++this.now });
  }
  exited(model: string, expected = true, message?: string) {
    return this.run({ type: 'exited', model, expected, message, now: ++this.now });
  }
  loadFailed(model: string, reason: 'timeout' | 'exited' = 'exited', message = 'boom') {
    return this.run({ type: 'loadFailed', model, reason, message, now: ++this.now });
  }
  unload(model: string) {
    return this.run({ type: 'unload', model, now: ++this.now });
  }
  need(model: string, devices: Record<string, number>) {
    return this.run({ type: 'need', model, devices, now: this.now });
  }
  usage(model: string, devices: Record<string, number>) {
    return this.run({ type: 'usage', model, devices, now: this.now });
  }
  devices(readings: { name: string; total: number; free: number }[]) {
    return this.run({ type: 'devices', readings, at: ++this.now, now: this.now });
  }
  tick(ms?: number) {
    if (ms !== undefined) this.now = ms;
    return this.run({ type: 'tick', now: this.now });
  }
  shutdown() {
    return this.run({ type: 'shutdown', now: ++this.now });
  }

  /** Start and make ready, answering any stops with exits, until `model` is loaded. */
  bringUp(model: string): string {
    const { id, effects } = this.request(model);
    this.settle(effects);
    return id;
  }

  /** Carry out starts/stops the way a well-behaved router would, until nothing changes. */
  settle(effects: Effect[]): Effect[] {
    const all = [...effects];
    let pending = effects;
    while (pending.length) {
      const next: Effect[] = [];
      for (const e of pending) {
        if (e.type === 'start') next.push(...this.ready(e.model));
        if (e.type === 'stop') next.push(...this.exited(e.model, true));
      }
      all.push(...next);
      pending = next;
    }
    return all;
  }
  status(model: string) {
    return this.s.view(model)!.status;
  }
}

export const admits = (effects: Effect[]) => effects.filter((e) => e.type === 'admit').map((e) => (e as { id: string }).id);
export const starts = (effects: Effect[]) => effects.filter((e) => e.type === 'start').map((e) => (e as { model: string }).model);
export const stops = (effects: Effect[]) => effects.filter((e) => e.type === 'stop').map((e) => (e as { model: string }).model);
export const rejects = (effects: Effect[]) =>
  effects.flatMap((e) => (e.type === 'reject' ? [e] : []));
