/**
 * A child's output (stdout and stderr, one file for both, as `2>&1` gives) as a file the router reads in batches,
 * instead of pipes node reads on every write.
 *
 * Why: a pipe wakes the router's event loop for each write the child makes, and llama-server writes each log line
 * on its own (9 per chat completion). The proxy bench measured what that costs on 1-token chats: the router's CPU
 * per request 0.541 ms with the child's log on, 0.378 ms with the child started with --log-disable
 * (docs/BENCHMARKS.md, section 1's findings). A file costs the router nothing while the child writes: the router
 * reads what is new when it chooses. A FIFO read on a timer gave the same gain but cost the cold swap (a mkfifo run
 * per spawn, readiness seen on a tick); a file needs no helper process, and inotify tells us of each write while
 * the child starts, so its "listening" line still cuts the readiness poll short. One file for both streams keeps
 * their lines in the order they were written (two pipes, or two files read in turn, did not).
 *
 * The file is made in the temporary directory with a random name, opened (the child's end O_APPEND, ours
 * read-only) and unlinked at once: no name is left on disk, whatever happens to the router, and nobody else can
 * open it. Its space is held as long as a writer has it open: the child, and any descendant that inherited it
 * (one that outlives a SIGKILLed router, or that left the group of a child that crashed, writes into it unread
 * until it exits; with pipes, its next write failed). A writer that reopens it without O_APPEND (a wrapper's
 * `> /dev/stderr`) and writes past a truncation leaves a hole of zero bytes, passed on as they are.
 * So that a chatty child cannot fill the disk, the file is emptied (ftruncate; the child's O_APPEND writes then
 * start again at 0) when a read reaches its end past TRUNCATE_AT. Lines written between that read and the
 * truncation, a few microseconds once every TRUNCATE_AT bytes, are lost: the price of not holding the whole output.
 * A child that writes faster than the router reads (READ_BUDGET a call, SKIP_AT behind) has what is unread
 * dropped, with a line that says so, rather than stalling the router's event loop or filling the disk.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, constants, fstatSync, ftruncateSync, openSync, readSync, unlinkSync, watch, type FSWatcher } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { LineSplitter } from './lines.js';

/** Emptied when a read reaches its end past this. */
const TRUNCATE_AT = 4 * 1024 * 1024;
/** At most this much is read (and split into lines) in one call: the rest waits for the next one. */
const READ_BUDGET = 1024 * 1024;
/** After a call that used its budget, more than this left unread is dropped. */
const SKIP_AT = 4 * 1024 * 1024;

/** One buffer for every read: reads are synchronous, and what is kept is decoded out of it at once. */
const READ_BUFFER = Buffer.allocUnsafe(64 * 1024);

/** The file for a child's output could not be made (the temporary directory is missing, read-only or full). */
export class OutputFileError extends Error {}

export interface OutputFileOptions {
  /** Called when the inotify watch fails while the child starts: the owner must read on its own from then on. */
  onWatchLost?: () => void;
  /** Where the file is made: the system's temporary directory unless a test says otherwise. */
  dir?: string;
  /** Tests: smaller marks. */
  truncateAt?: number;
  readBudget?: number;
  skipAt?: number;
}

export class OutputFile {
  /** The child's end: pass it as the child's stdout and stderr. */
  readonly fd: number;
  readonly #readFd: number;
  /** What was read so far: the next read starts here (pread, so the child's writes never move it). */
  #offset = 0;
  #closed = false;
  readonly #decoder = new StringDecoder('utf8');
  readonly #splitter: LineSplitter;
  /** inotify on the file while the child starts; undefined once relaxed, or when the system has no watch to give. */
  #watcher: FSWatcher | undefined;
  /** The next turn's read, after one that used its whole budget. */
  #soon: NodeJS.Immediate | undefined;
  readonly #o: Required<Omit<OutputFileOptions, 'onWatchLost' | 'dir'>> & Pick<OutputFileOptions, 'onWatchLost'>;

  constructor(onLine: (line: string) => void, opts: OutputFileOptions = {}) {
    this.#o = { truncateAt: TRUNCATE_AT, readBudget: READ_BUDGET, skipAt: SKIP_AT, ...opts };
    this.#splitter = new LineSplitter(onLine);
    const dir = opts.dir ?? tmpdir();
    const path = join(dir, `router-output-${process.pid}-${randomBytes(8).toString('hex')}`);
    const { O_WRONLY, O_APPEND, O_CREAT, O_EXCL, O_RDONLY } = constants;
    const opened: number[] = [];
    try {
      opened.push(openSync(path, O_WRONLY | O_APPEND | O_CREAT | O_EXCL, 0o600));
      try {
        opened.push(openSync(path, O_RDONLY));
        try {
          // Not persistent: the child's exit, not its output, keeps a start-up going.
          this.#watcher = watch(path, { persistent: false }, () => this.read());
          this.#watcher.on('error', () => {
            this.#unwatch();
            this.#o.onWatchLost?.();
          });
        } catch {
          // No inotify (none compiled in, or the user's watches are used up): the owner reads on its own timer.
        }
      } finally {
        unlinkSync(path);
      }
    } catch (err) {
      this.#unwatch();
      for (const fd of opened) closeSync(fd);
      throw new OutputFileError(`no file for its output in ${dir} (${(err as Error).message})`, { cause: err });
    }
    [this.fd, this.#readFd] = opened as [number, number];
  }

  /** Whether writes are seen as they happen (inotify); if not, the owner has to read often while the child starts. */
  get watched(): boolean {
    return this.#watcher !== undefined;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** From now on only the owner's reads: the child is up, and its lines are no longer urgent. */
  relax(): void {
    this.#unwatch();
    // A write whose inotify event was still queued would otherwise wait for the owner's next read.
    this.read();
  }

  /**
   * Reads what the child wrote since the last read, passing on every complete line. At most the budget: when it is
   * used up, the rest is read on the next turn of the event loop (the loop is not held, and a burst needs no new
   * write to be read to its end), unless it is so far behind that it is dropped.
   */
  read(): void {
    if (this.#closed) return;
    let budget = this.#o.readBudget;
    for (;;) {
      const n = this.#pread(Math.min(READ_BUFFER.length, budget));
      if (n > 0) {
        this.#offset += n;
        budget -= n;
        this.#splitter.push(this.#decoder.write(READ_BUFFER.subarray(0, n)));
        if (budget > 0) continue;
        if (!this.#skipIfFarBehind()) this.#readSoon();
        return;
      }
      const size = this.#size();
      if (size !== undefined && size < this.#offset) {
        // Emptied by someone else (a wrapper script's `> /dev/stderr` opens it again with O_TRUNC): read from 0,
        // the line it cut short passed on as it is.
        this.#flushLine();
        this.#offset = 0;
        continue;
      }
      break;
    }
    if (this.#offset >= this.#o.truncateAt && this.#truncate()) this.#offset = 0;
  }

  /**
   * The last read, the last line even without its newline, and both ends closed. Safe to call again. What is left
   * is read to its end, all but its last readBudget bytes skipped (saying so): a crash report wants the last lines.
   */
  close(): void {
    if (this.#closed) return;
    try {
      const size = this.#size();
      if (size !== undefined && size - this.#offset > this.#o.readBudget) {
        const to = size - this.#o.readBudget;
        this.#skipped(to - this.#offset);
        this.#offset = to;
      }
      let n: number;
      while ((n = this.#pread(READ_BUFFER.length)) > 0) {
        this.#offset += n;
        this.#splitter.push(this.#decoder.write(READ_BUFFER.subarray(0, n)));
      }
      this.#flushLine();
    } finally {
      this.#closed = true;
      this.#unwatch();
      if (this.#soon) clearImmediate(this.#soon);
      closeSync(this.#readFd);
      closeSync(this.fd);
    }
  }

  /** Bytes read at the offset, 0 at the end of the file or when the read fails (tried again at the next call). */
  #pread(length: number): number {
    try {
      return readSync(this.#readFd, READ_BUFFER, 0, length, this.#offset);
    } catch {
      return 0;
    }
  }

  #size(): number | undefined {
    try {
      return fstatSync(this.#readFd).size;
    } catch {
      return undefined;
    }
  }

  /** Far behind a fast writer: what is unread is dropped (and the file emptied), with a line that says so. */
  #skipIfFarBehind(): boolean {
    const size = this.#size();
    if (size === undefined || size - this.#offset <= this.#o.skipAt || !this.#truncate()) return false;
    this.#skipped(size - this.#offset);
    this.#offset = 0;
    return true;
  }

  /** Empties the file; false if that failed (a read goes on from where it was, and the file stays as long). */
  #truncate(): boolean {
    try {
      ftruncateSync(this.fd, 0);
      return true;
    } catch {
      return false;
    }
  }

  /** A line cut short (by a skip, a shrink, the end) is passed on as it is, and the decoder starts afresh. */
  #flushLine(): void {
    this.#splitter.push(this.#decoder.end());
    this.#splitter.end();
  }

  /** The line cut short passed on, then a line saying how much was not read. */
  #skipped(bytes: number): void {
    this.#flushLine();
    this.#splitter.push(`router: ${bytes} bytes of this output skipped (written faster than read)\n`);
  }

  #readSoon(): void {
    this.#soon ??= setImmediate(() => {
      this.#soon = undefined;
      this.read();
    });
  }

  #unwatch(): void {
    this.#watcher?.close();
    this.#watcher = undefined;
  }
}
