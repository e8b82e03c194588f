/**
 * One picture of the router for operators: every model as `GET /models` shows it, plus the
 * last device reading and the memory policy it is judged by. The SSE `snapshot` event, the
 * dashboard and `GET /devices` all speak this shape.
 */
import type { Request, Response } from 'express';
import type { Router } from '../router/router.js';
import { modelEntry } from './models-routes.js';

/** The subset of Router the operability routes read; tests may pass a fake. */
export type RouterView = Pick<Router, 'list' | 'devices'>;

export interface DeviceEntry {
  name: string;
  label?: string;
  total: number;
  free: number;
}

export interface DevicesView {
  /** Device readings (bytes); empty when the router has none (no memory hooks, or not read yet). */
  data: DeviceEntry[];
  /** When they were read (ms since epoch), or null. */
  at: number | null;
  /** Bytes kept free on every device a load touches (`--models-memory-margin`), or null. */
  memory_margin: number | null;
  /** Caps on what the router's children may use per device (`--models-memory-max`). */
  memory_max: Record<string, number>;
}

export function devicesView(router: RouterView): DevicesView {
  const d = router.devices();
  return {
    data: d.readings.map((r) => {
      const label = (r as { label?: unknown }).label;
      return { name: r.name, ...(typeof label === 'string' ? { label } : {}), total: r.total, free: r.free };
    }),
    at: d.at,
    memory_margin: d.marginBytes,
    memory_max: d.caps,
  };
}

export function snapshot(router: RouterView) {
  return {
    object: 'list' as const,
    data: router.list().map(modelEntry),
    devices: devicesView(router),
  };
}

/** `GET /devices`: the last device reading and the memory policy, as in the snapshot. */
export function listDevices(router: RouterView) {
  return (_req: Request, res: Response) => {
    res.json({ object: 'list', ...devicesView(router) });
  };
}
