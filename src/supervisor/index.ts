/** One child inference server's life: spawn, readiness, stop, crash, logs. Imports nothing else of ours. */
export type { Backend } from './backend.js';
export { Child } from './child.js';
export { CHILD_TRANSITIONS, IllegalTransitionError } from './states.js';
export { ChildStartError } from './errors.js';
export type { ChildOptions, ChildStartReason, ChildState, ExitInfo } from './types.js';
export { freePort, isBindFailure, portInUse } from './port.js';
export { listDescendants, listGroupPids, pidAlive, processGroupAlive, readProcStat, type ProcStat } from './process-group.js';
export { RingBuffer } from './ring-buffer.js';
export { signalGroup } from './stop.js';
