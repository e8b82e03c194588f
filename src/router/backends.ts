/**
 * Where the router's backends come from. The router decides what a model's backend is to be (the child's command,
 * environment and key; or the external server's URL and routes) and asks a factory to make it; the default makes
 * the supervisor's Child and the ExternalBackend. Tests pass a factory of their own (test/helpers/test-backend.ts)
 * to drive the real Router and Scheduler without processes.
 */
import type { ModelSpec } from '../catalog/model-spec.js';
import type { Backend } from '../supervisor/backend.js';
import { Child } from '../supervisor/child.js';
import type { ChildOptions } from '../supervisor/types.js';
import { ExternalBackend, type ExternalOptions } from './external.js';

export type BackendOrder =
  /** A model without `url`: a child process the router owns (its command, environment, key, timeouts). */
  | { kind: 'child'; spec: ModelSpec; options: ChildOptions }
  /** A model with `url`: a server the router did not start (its URL, routes, headers). */
  | { kind: 'external'; spec: ModelSpec; options: ExternalOptions };

/** Makes the backend for one load; called once per start, the backend used once. */
export type BackendFactory = (order: BackendOrder) => Backend;

export const defaultBackends: BackendFactory = (order) =>
  order.kind === 'external' ? new ExternalBackend(order.options) : new Child(order.options);
