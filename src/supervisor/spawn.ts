import { existsSync } from 'node:fs';
import type { Writable } from 'node:stream';
import { execa } from 'execa';
import { OutputFile } from './output-file.js';

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
  /** Each line of the child's stdout and stderr, in the order written (one file for both, as `2>&1`). */
  onLine: (line: string) => void;
}

/** While a child starts and no inotify watch could be had: how often its output is read. */
const URGENT_MS = 5;
/**
 * Once it is up: how often. Lines reach the per-model log and its followers at most this late, and each carries
 * the time it was read; a busy child's lines cost one read per tick however many it printed.
 */
const RELAXED_MS = 100;

/**
 * One spawned process: its own process group (detached, so pgid === pid and the whole group can be signalled),
 * stdin kept open (llama-server and the bundled engine exit on stdin EOF, which also happens when the router dies),
 * stdout and stderr written to one file the router reads in batches (output-file.ts) and splits into lines. Not
 * buffered by execa: a server prints for days. Throws OutputFileError when that file cannot be made.
 */
export class SpawnedProcess {
  readonly pid: number | undefined;
  /** Resolves when the direct child has exited (from the ChildProcess 'exit' event, which means it was reaped). */
  readonly exited: Promise<ProcessExit>;
  #exit: ProcessExit | undefined;
  #spawnError: Error | undefined;
  readonly #stdin: Writable | null;
  readonly #output: OutputFile;
  #timer: NodeJS.Timeout | undefined;
  #relaxed = false;

  constructor(opts: SpawnOptions) {
    const file = PDEATHSIG_WRAPPER ?? opts.command;
    const args = PDEATHSIG_WRAPPER ? ['--pdeathsig', 'KILL', '--', opts.command, ...opts.args] : opts.args;
    const output = new OutputFile(
      (line) => {
        if (PDEATHSIG_WRAPPER && SETPRIV_EXEC_FAILURE.test(line)) this.#spawnError ??= new Error(line);
        opts.onLine(line);
      },
      { onWatchLost: () => this.#readOften() },
    );
    const subprocess = (() => {
      try {
        return execa(file, args, {
          env: opts.env,
          extendEnv: true,
          detached: true,
          // execa skips its exit cleanup for detached children anyway; say so. stop.ts kills the group.
          cleanup: false,
          stdin: 'pipe',
          stdout: fdOption(output.fd),
          stderr: fdOption(output.fd),
          buffer: false,
          reject: false,
        });
      } catch (err) {
        output.close();
        throw err;
      }
    })();
    this.#output = output;
    // With reject: false the promise resolves even on failure, but it is settled only once the streams close;
    // we never await it, so keep it from ever being unhandled.
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
    if (!output.watched) this.#readOften();
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

  /** The child is up: its output is read every RELAXED_MS from now on, not as it is written. */
  relax(): void {
    if (this.#relaxed || this.#output.closed) return;
    this.#relaxed = true;
    clearInterval(this.#timer);
    this.#output.relax();
    this.#timer = setInterval(() => this.#output.read(), RELAXED_MS).unref();
  }

  /**
   * Reads the last of the output and closes the file, so lines printed just before exit are in the log. Call it
   * once the process group is gone: a file has no end to wait for (a pipe's end could be held for ever by a
   * grandchild that inherited it), so what is not written by then is not read.
   */
  collectOutput(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.#output.close();
  }

  /** While the child starts without an inotify watch (none to be had, or it failed): read as often as one would. */
  #readOften(): void {
    if (this.#relaxed || this.#output?.closed) return;
    clearInterval(this.#timer);
    this.#timer = setInterval(() => this.#output.read(), URGENT_MS).unref();
  }

  /** EOF on the child's stdin: a graceful stop request for servers that watch it. */
  endStdin(): void {
    if (this.#stdin && !this.#stdin.destroyed && !this.#stdin.writableEnded) this.#stdin.end();
  }

  /** Let go of stdin and the output file (what the child wrote since the last read is read first). */
  destroyStdio(): void {
    this.#stdin?.destroy();
    this.collectOutput();
  }
}

/** execa passes any open file descriptor to the child (its docs: "an integer"); its types list only 3 to 9. */
function fdOption(fd: number): 3 {
  return fd as 3;
}
