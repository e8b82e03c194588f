/**
 * A child's stdout or stderr as a file the router reads in batches, instead of a pipe node reads on every write.
 *
 * Why: a pipe wakes the router's event loop for each write the child makes, and llama-server writes each log line
 * on its own (9 per chat completion). The proxy bench measured what that costs on 1-token chats: the router's CPU
 * per request 0.541 ms with the child's log on, 0.378 ms with the child started with --log-disable
 * (docs/BENCHMARKS.md, section 1's findings). A file costs the router nothing while the child writes: the router
 * reads what is new when it chooses. A FIFO read on a timer gave the same gain but cost the cold swap (a mkfifo run
 * per spawn, readiness seen on a tick); a file needs no helper process, and inotify tells us of each write while
 * the child starts, so its "listening" line still cuts the readiness poll short at once.
 *
 * The file is made in the temporary directory with a random name, opened (the child's end O_APPEND, ours
 * read-only) and unlinked at once: nothing is left on disk, whatever happens to the router, and nobody else can
 * open it. Its data lives as long as one of the two ends is open. So that a chatty child cannot fill the disk, the
 * file is emptied (ftruncate; the child's O_APPEND writes then start again at 0) when what was read passes
 * TRUNCATE_AT. Lines the child writes between the read that found the end and the truncation, a few microseconds
 * once every TRUNCATE_AT bytes, are lost; this is the price of not holding the whole output.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, constants, ftruncateSync, openSync, readSync, unlinkSync, watch, type FSWatcher } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { LineSplitter } from './lines.js';

/** Emptied when what was read passes this. */
export const TRUNCATE_AT = 4 * 1024 * 1024;

/** One buffer for every read: reads are synchronous, and what is kept is decoded out of it at once. */
const READ_BUFFER = Buffer.allocUnsafe(64 * 1024);

export class OutputFile {
  /** The child's end: pass it as the child's stdout or stderr. */
  readonly fd: number;
  readonly #readFd: number;
  /** What was read so far: the next read starts here (pread, so the child's writes never move it). */
  #offset = 0;
  #closed = false;
  readonly #decoder = new StringDecoder('utf8');
  readonly #splitter: LineSplitter;
  /** inotify on the file while the child starts; undefined once relaxed, or when the system has no watch to give. */
  #watcher: FSWatcher | undefined;

  readonly #truncateAt: number;

  constructor(onLine: (line: string) => void, opts: { truncateAt?: number } = {}) {
    this.#truncateAt = opts.truncateAt ?? TRUNCATE_AT;
    this.#splitter = new LineSplitter(onLine);
    const path = join(tmpdir(), `router-output-${process.pid}-${randomBytes(8).toString('hex')}`);
    const { O_WRONLY, O_APPEND, O_CREAT, O_EXCL, O_RDONLY } = constants;
    this.fd = openSync(path, O_WRONLY | O_APPEND | O_CREAT | O_EXCL, 0o600);
    try {
      this.#readFd = openSync(path, O_RDONLY);
      try {
        // Not persistent: the child's exit, not its output, keeps a start-up going.
        this.#watcher = watch(path, { persistent: false }, () => this.read());
        this.#watcher.on('error', () => this.#unwatch());
      } catch {
        // No inotify (none compiled in, or the user's watches are used up): the owner reads on its own timer.
      }
    } catch (err) {
      closeSync(this.fd);
      throw err;
    } finally {
      unlinkSync(path);
    }
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
  }

  /** Reads what the child wrote since the last read, passing on every complete line. */
  read(): void {
    if (this.#closed) return;
    let n: number;
    try {
      while ((n = readSync(this.#readFd, READ_BUFFER, 0, READ_BUFFER.length, this.#offset)) > 0) {
        this.#offset += n;
        this.#splitter.push(this.#decoder.write(READ_BUFFER.subarray(0, n)));
      }
    } catch {
      return; // nothing to do about a failing read of our own file but to try again at the next one
    }
    if (this.#offset >= this.#truncateAt) {
      ftruncateSync(this.fd, 0);
      this.#offset = 0;
    }
  }

  /** The last read, the last line even without its newline, and both ends closed. Safe to call again. */
  close(): void {
    if (this.#closed) return;
    this.read();
    this.#closed = true;
    this.#unwatch();
    this.#splitter.push(this.#decoder.end());
    this.#splitter.end();
    closeSync(this.#readFd);
    closeSync(this.fd);
  }

  #unwatch(): void {
    this.#watcher?.close();
    this.#watcher = undefined;
  }
}
