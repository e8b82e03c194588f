/**
 * What the router's parts (backend-life.ts, waiters.ts) share of it: its options, its models, its memory figures,
 * and the two ways back into it, an event for the scheduler and an event for its listeners. The Router builds one.
 */
import type { SchedulerEvent } from '../scheduler/types.js';
import type { MemoryFigures } from './memory-figures.js';
import type { ModelTable } from './model-table.js';
import type { LogEvent, RouterEvent, RouterOptions } from './types.js';

export interface RouterCore {
  readonly opts: RouterOptions;
  /** Where children listen (loopback). */
  readonly host: string;
  readonly models: ModelTable;
  /** Memory needs, device readings and measurements; undefined without memory hooks. */
  readonly figures?: MemoryFigures;
  /** Tell the scheduler (events are handled one at a time, in order). */
  handle(event: SchedulerEvent): void;
  /** Tell the router's listeners (/models/sse, the dashboard). */
  emitEvent(e: Omit<RouterEvent, 'at'>): void;
  /** A model's output line, for `GET /logs/:model?follow=1`. */
  emitLog(e: LogEvent): void;
}
