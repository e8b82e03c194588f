/** The devices room: what memory each device has and what each process uses. Imports nothing of ours. */
export { DeviceMonitor, type DeviceMonitorOptions } from './monitor.js';
export { canonicalDeviceName, formatBytes, formatDeviceSizes, parseDeviceSizes, parseSize, SizeError } from './size.js';
export { readCpuDevice, readRss, withDescendants, parseMeminfo, type HostPaths } from './host.js';
export { parseGpuCsv, parseAppsCsv, nameCudaDevices } from './nvidia.js';
export { parseRocmVramJson, nameRocmDevices } from './rocm.js';
export { ToolError, runTool } from './run-tool.js';
export { cpuHasAmx } from './cpu-flags.js';
export type { DeviceBytes, DeviceReading, Logger } from './types.js';
