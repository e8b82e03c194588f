/**
 * A child's stdout or stderr, read by the router on a timer from a FIFO instead of from a pipe node watches.
 *
 * Why: a pipe wakes the router's event loop for every write the child makes, and llama-server writes each log line
 * on its own (9 per chat completion). The proxy-overhead bench measured what that costs: with the router's
 * llama-server child started with --log-disable, the router's CPU per 1-token chat fell from 0.526 to 0.328 ms
 * (1.84x -> 1.22x a bare relay's), and `strace -c` counted 2.4 more reads per request than the relay's. Reading
 * on a timer, a busy child's lines cost one read per tick, however many it printed (docs/BENCHMARKS.md).
 *
 * The FIFO is made in a fresh private directory and unlinked as soon as both ends are open, so nothing is left on
 * disk and nobody else can open it. The child gets the write end as its stdout (or stderr); the router keeps the
 * read end, non-blocking, and reads what is there each tick: every 5 ms while the child starts (its "listening"
 * line nudges the readiness poll) and while its last lines are collected after it exits (`urgent`), otherwise
 * every 25 ms while it prints (5 ms while it prints half a pipe or more a tick) and up to every 500 ms while it
 * is quiet. A child that prints more than the pipe holds (64 KiB) between two ticks waits for the next one. End of file (no writer left: the child and any
 * grandchild that inherited the FIFO have closed it) ends the stream.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, constants, existsSync, mkdtempSync, openSync, readSync, rmdirSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { LineSplitter } from './lines.js';

const URGENT_MS = 5;
const BUSY_MS = 25;
const QUIET_MS = 500;

/**
 * coreutils' mkfifo (node has no call for it), by its path: the router's PATH is the user's and may not have it
 * (or may have something else by that name).
 */
const MKFIFO = ['/usr/bin/mkfifo', '/bin/mkfifo'].find((p) => existsSync(p));

/** One buffer for every read: reads are synchronous, and what is kept is decoded out of it at once. */
const READ_BUFFER = Buffer.allocUnsafe(64 * 1024);

/** `n` FIFOs, opened (read end non-blocking) and already unlinked: [readFd, writeFd] each. */
export function openFifos(n: number): [number, number][] {
  const dir = mkdtempSync(join(tmpdir(), 'router-output-'));
  const paths = Array.from({ length: n }, (_, i) => join(dir, String(i)));
  const opened: number[] = [];
  try {
    if (!MKFIFO) throw new Error('mkfifo (coreutils) is not installed in /usr/bin or /bin: it is needed to read the output of a child');
    execFileSync(MKFIFO, ['-m', '600', ...paths], { stdio: 'ignore' });
    return paths.map((path) => {
      const read = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
      opened.push(read);
      // A reader is there, so this open does not block.
      const write = openSync(path, constants.O_WRONLY);
      opened.push(write);
      return [read, write];
    });
  } catch (err) {
    for (const fd of opened) closeSync(fd);
    throw err;
  } finally {
    for (const path of paths) {
      try {
        unlinkSync(path);
      } catch {
        // not made
      }
    }
    rmdirSync(dir);
  }
}

export class OutputFifo {
  #fd: number | undefined;
  #timer: NodeJS.Timeout | undefined;
  #intervalMs = URGENT_MS;
  #urgent = true;
  #ended = false;
  readonly #decoder = new StringDecoder('utf8');
  readonly #splitter: LineSplitter;
  readonly ended: Promise<void>;
  #resolveEnded!: () => void;

  constructor(readFd: number, onLine: (line: string) => void) {
    this.#fd = readFd;
    this.#splitter = new LineSplitter(onLine);
    this.ended = new Promise<void>((resolve) => (this.#resolveEnded = resolve));
    this.#schedule();
  }

  /** Read every URGENT_MS (start-up, last lines after exit) or back off as the child prints less. */
  set urgent(on: boolean) {
    this.#urgent = on;
    if (on && !this.#ended && this.#intervalMs > URGENT_MS) {
      this.#intervalMs = URGENT_MS;
      clearTimeout(this.#timer);
      this.#schedule();
    }
  }

  /** Stop reading and let the FIFO go; what was read but not ended by a newline is still given as a line. */
  close(): void {
    this.#end();
  }

  #schedule(): void {
    // Unref'd: the child's own handle keeps the router alive while it runs; this timer never should.
    this.#timer = setTimeout(this.#tick, this.#intervalMs).unref();
  }

  readonly #tick = (): void => {
    const got = this.#read();
    if (this.#ended) return;
    // Half a pipe or more since the last tick: the child may soon wait on a full pipe, so look again soon.
    const flooding = got >= READ_BUFFER.length / 2;
    this.#intervalMs = this.#urgent || flooding ? URGENT_MS : got ? BUSY_MS : Math.min(this.#intervalMs * 2, QUIET_MS);
    this.#schedule();
  };

  /** Everything there now; the bytes read. Ends the stream at end of file or on a read error. */
  #read(): number {
    let got = 0;
    while (this.#fd !== undefined) {
      let n: number;
      try {
        n = readSync(this.#fd, READ_BUFFER, 0, READ_BUFFER.length, null);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EAGAIN') break;
        this.#end();
        break;
      }
      if (n === 0) {
        this.#end();
        break;
      }
      got += n;
      this.#splitter.push(this.#decoder.write(READ_BUFFER.subarray(0, n)));
    }
    return got;
  }

  #end(): void {
    if (this.#ended) return;
    this.#ended = true;
    clearTimeout(this.#timer);
    if (this.#fd !== undefined) closeSync(this.#fd);
    this.#fd = undefined;
    this.#splitter.push(this.#decoder.end());
    this.#splitter.end();
    this.#resolveEnded();
  }
}
