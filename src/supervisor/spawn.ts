import { existsSync } from 'node:fs';
import { StringDecoder } from 'node:string_decoder';
import type { Readable, Writable } from 'node:stream';
import { execa } from 'execa';
import { LineSplitter } from './lines.js';

/**
 * `setpriv --pdeathsig KILL -- CMD` makes the kernel SIGKILL the child when the router dies, even by SIGKILL (no
 * exit handler of ours runs then). setpriv execs CMD, so the pid we see is the server's own. The death signal is
 * not inherited across fork: it covers the direct child only; see stop.ts and the tests for grandchildren.
 */
export const PDEATHSIG_WRAPPER: string | undefined =
  process.platform === 'linux' && existsSync('/usr/bin/setpriv') ? '/usr/bin/setpriv' : undefined;

// setpriv reports a command it could not exec like this and exits 127 (not found) or 126 (not executable).
const SETPRIV_EXEC_FAILURE = /^setpriv: failed to execute /;

export interface ProcessExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface SpawnOptions {
  command: string;
  args: string[];
  /** Added to process.env. */
  env?: Record<string, string>;
  onLine: (line: string, stream: 'stdout' | 'stderr') => void;
}

/**
 * One spawned process: its own process group (detached, so pgid === pid and the whole group can be signalled),
 * stdin kept open (llama-server and the bundled engine exit on stdin EOF, which also happens when the router dies),
 * output split into lines. Not buffered by execa: a server prints for days.
 */
export class SpawnedProcess {
  readonly pid: number | undefined;
  /** Resolves when the direct child has exited (from the ChildProcess 'exit' event, which means it was reaped). */
  readonly exited: Promise<ProcessExit>;
  #exit: ProcessExit | undefined;
  #spawnError: Error | undefined;
  readonly #stdin: Writable | null;
  readonly #outputs: Readable[];
  readonly #outputEnded: Promise<void>;

  constructor(opts: SpawnOptions) {
    const file = PDEATHSIG_WRAPPER ?? opts.command;
    const args = PDEATHSIG_WRAPPER ? ['--pdeathsig', 'KILL', '--', opts.command, ...opts.args] : opts.args;
    const subprocess = execa(file, args, {
      env: opts.env,
      extendEnv: true,
      detached: true,
      // execa skips its exit cleanup for detached children anyway; say so. stop.ts kills the group.
      cleanup: false,
      stdin: 'pipe',
      stdout: 'pipe',
      stderr: 'pipe',
      buffer: false,
      reject: false,
    });
    // With reject: false the promise resolves even on failure, but it is settled only once the streams close;
    // we never await it (a grandchild holding the pipes would keep it pending), so keep it from ever being unhandled.
    subprocess.catch(() => {});
    this.pid = subprocess.pid;

    this.exited = new Promise<ProcessExit>((resolve) => {
      subprocess.once('exit', (code, signal) => {
        this.#exit = { code, signal };
        resolve(this.#exit);
      });
      subprocess.on('error', (err) => {
        // 'error' without a pid means the spawn itself failed and no 'exit' will follow.
        if (subprocess.pid === undefined && this.#exit === undefined) {
          this.#spawnError = err;
          this.#exit = { code: null, signal: null };
          resolve(this.#exit);
        }
      });
    });

    this.#stdin = subprocess.stdin;
    // Writing to or ending the pipe of a dead child raises EPIPE; that is not news, the exit event is.
    this.#stdin?.on('error', () => {});
    this.#outputs = [];
    const ended: Promise<void>[] = [];
    for (const [stream, name] of [
      [subprocess.stdout, 'stdout'],
      [subprocess.stderr, 'stderr'],
    ] as const) {
      if (!stream) continue;
      this.#outputs.push(stream);
      const decoder = new StringDecoder('utf8');
      const splitter = new LineSplitter((line) => {
        if (PDEATHSIG_WRAPPER && name === 'stderr' && SETPRIV_EXEC_FAILURE.test(line)) {
          this.#spawnError ??= new Error(line);
        }
        opts.onLine(line, name);
      });
      stream.on('data', (chunk: Buffer | string) => splitter.push(typeof chunk === 'string' ? chunk : decoder.write(chunk)));
      stream.on('error', () => {});
      ended.push(
        new Promise<void>((resolve) => {
          let done = false;
          const finish = () => {
            if (done) return;
            done = true;
            splitter.push(decoder.end());
            splitter.end();
            resolve();
          };
          stream.once('end', finish);
          stream.once('close', finish);
        }),
      );
    }
    this.#outputEnded = Promise.all(ended).then(() => undefined);
  }

  get exit(): ProcessExit | undefined {
    return this.#exit;
  }

  get hasExited(): boolean {
    return this.#exit !== undefined;
  }

  /** Set when the executable could not be run (spawn error, or setpriv could not exec it). */
  get spawnError(): Error | undefined {
    return this.#spawnError;
  }

  /**
   * Waits (at most `timeoutMs`) for stdout and stderr to end, so lines printed just before exit are in the ring
   * buffer. 'exit' can come before the last 'data'; and a grandchild that inherited the pipes can keep them open
   * for ever, hence the bound.
   */
  async outputEnded(timeoutMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.#outputEnded, new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)))]);
    clearTimeout(timer);
  }

  /** EOF on the child's stdin: a graceful stop request for servers that watch it. */
  endStdin(): void {
    if (this.#stdin && !this.#stdin.destroyed && !this.#stdin.writableEnded) this.#stdin.end();
  }

  /** Let go of the pipes, so a straggler still holding them cannot keep the router's event loop alive. */
  destroyStdio(): void {
    this.#stdin?.destroy();
    for (const stream of this.#outputs) stream.destroy();
  }
}
