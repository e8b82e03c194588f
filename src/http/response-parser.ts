/**
 * An incremental HTTP/1.1 response parser for the proxy's own upstream client (proxy.ts): fed the bytes a child
 * sends, it reports the answer's head once, then its body as views of the bytes fed (no copy), then its end.
 *
 * Why not node's client: in front of llama-server under 1-token chats, node's ClientRequest, IncomingMessage and
 * their streams were the largest share of the router's CPU beyond a bare relay's (bench/profile-chats.ts; the
 * result, section 1 of docs/BENCHMARKS.md).
 * A response is a few hundred bytes of head and one body; the work here is one latin1 decode and one split of the
 * head, and for a chunked body a scan of each chunk-size line.
 *
 * What it accepts (as node's llhttp, strict, does for a response): HTTP/1.0 and 1.1; 1xx heads skipped (100
 * Continue, 103 Early Hints; at most MAX_INTERIM of them); no body for 204, 304 and an answer to HEAD; a body framed
 * by Transfer-Encoding (chunked last: the chunks decoded, their extensions and trailers dropped; any other: read to
 * the connection's end), else by Content-Length, else read to the connection's end. What it refuses, as an error
 * (the connection is then closed; the client gets a 502, or a cut answer once its head was sent): a head over
 * 16 KiB or with bare LF line ends, a bad status line, 101 Switching Protocols (the router never asks for an
 * upgrade), a header line without a colon, folded (obs-fold), with a name that is not a token or a value with
 * control characters, a Content-Length that is not digits, given twice or beside Transfer-Encoding (the ambiguity
 * request smuggling lives on; checked on answers without a body too, whose headers still reach the client), a bad
 * chunk-size line, a chunk not followed by CRLF, a trailer line that is not a header line or ends in a bare LF,
 * trailers over 16 KiB.
 * A head that comes a few bytes at a time costs time in proportion to its size: the bytes kept are appended to, and
 * searched from where the last search stopped. (A chunk-size or trailer line spanning reads is joined again on each
 * read; the 4 KiB cap on a chunk-size line and the 16 KiB cap on trailers bound that.)
 */

/** The head's limit, node's default (--max-http-header-size); a child's answer head is ~200 bytes. */
const MAX_HEAD = 16 * 1024;
/** Interim (1xx) answers before the real one: a server sends one or two (100, 103); more is a loop. */
const MAX_INTERIM = 8;
/** A chunk-size line (size, extensions) longer than this is refused. */
const MAX_CHUNK_LINE = 4096;
const CRLF2 = Buffer.from('\r\n\r\n');
const LF2 = Buffer.from('\n\n');

export interface ResponseHead {
  status: number;
  /** '1.0' or '1.1'. */
  version: string;
  /** The header lines as flat [name, value, …] pairs, names as sent, values trimmed. */
  rawHeaders: string[];
  /** May the connection carry another request after this answer (HTTP/1.1 without `Connection: close`, …)? */
  keepAlive: boolean;
}

export interface ResponseSink {
  onHead(head: ResponseHead): void;
  /** A piece of the body (a view of the bytes fed: not to be kept past the answer's end if they are reused). */
  onBody(chunk: Buffer): void;
  /** The answer is whole. `extra`: bytes fed after its end (none from a well-behaved child). */
  onComplete(extra: boolean): void;
}

export class ResponseParseError extends Error {
  readonly code = 'HPE_INVALID_RESPONSE';
}

const enum State {
  Head,
  Length,
  ChunkSize,
  ChunkData,
  ChunkDataEnd,
  Trailers,
  ToClose,
  Done,
}

export class ResponseParser {
  private state = State.Head;
  /** Bytes of an unfinished head, or of an unfinished chunk-size or trailer line. */
  private pending?: Buffer;
  /** An unfinished head's bytes: the first `headLength` of `headBytes` (grown by doubling, so appending is linear). */
  private headBytes?: Buffer;
  private headLength = 0;
  /** Interim answers skipped, and trailer bytes read, so far. */
  private interim = 0;
  private trailerBytes = 0;
  /** Body bytes still due: of the Content-Length body, or of the current chunk. */
  private left = 0;
  /** CR LF bytes still due after a chunk's data. */
  private crlfLeft = 0;
  /** Has any byte of the answer come? (A request may be sent again only on a connection that answered nothing.) */
  started = false;
  head?: ResponseHead;

  constructor(
    private readonly sink: ResponseSink,
    /** The request was HEAD: the answer has no body whatever its headers say. */
    private readonly noBody = false,
  ) {}

  get done(): boolean {
    return this.state === State.Done;
  }

  /** The answer's body runs to the connection's end (no length, no chunks): the end of the connection ends it. */
  get endsWithClose(): boolean {
    return this.state === State.ToClose;
  }

  /** Feed the next bytes from the connection. Throws ResponseParseError on a malformed answer. */
  feed(chunk: Buffer): void {
    if (this.state === State.Done) return;
    this.started = true;
    let at = 0;
    while (at < chunk.length) {
      switch (this.state) {
        case State.Head:
          at = this.readHead(chunk, at);
          break;
        case State.Length:
          at = this.takeBody(chunk, at);
          if (this.left === 0) this.finish(chunk, at);
          break;
        case State.ChunkSize:
          at = this.readChunkSize(chunk, at);
          break;
        case State.ChunkData:
          at = this.takeBody(chunk, at);
          if (this.left === 0) {
            this.state = State.ChunkDataEnd;
            this.crlfLeft = 2;
          }
          break;
        case State.ChunkDataEnd: {
          const want = this.crlfLeft === 2 ? 0x0d : 0x0a;
          if (chunk[at] !== want) throw new ResponseParseError('a chunk of the answer was not followed by CRLF');
          at++;
          if (--this.crlfLeft === 0) this.state = State.ChunkSize;
          break;
        }
        case State.Trailers:
          at = this.readTrailers(chunk, at);
          break;
        case State.ToClose:
          this.body(chunk, at, chunk.length);
          at = chunk.length;
          break;
        default:
          // Done: the answer ended in this chunk (finish told the sink whether bytes came after it).
          return;
      }
    }
  }

  /** The connection ended: true when that ends the answer (a body read to the close), false when it was cut short. */
  close(): boolean {
    if (this.state !== State.ToClose) return this.state === State.Done;
    this.state = State.Done;
    this.sink.onComplete(false);
    return true;
  }

  /** The body bytes due (`left`) from `at` in `chunk`, as many as it holds: passed on. Returns where they end. */
  private takeBody(chunk: Buffer, at: number): number {
    const n = Math.min(this.left, chunk.length - at);
    this.left -= n;
    this.body(chunk, at, at + n);
    return at + n;
  }

  private body(chunk: Buffer, from: number, to: number): void {
    if (to > from) this.sink.onBody(from === 0 && to === chunk.length ? chunk : chunk.subarray(from, to));
  }

  /** The answer ended at `at` in `chunk`: anything after it is extra. */
  private finish(chunk: Buffer, at: number): void {
    this.state = State.Done;
    this.sink.onComplete(at < chunk.length);
  }

  private readHead(chunk: Buffer, at: number): number {
    // The common case: the whole head in this chunk, read where it lies.
    let buf = chunk;
    let from = at;
    let end: number;
    let next: number;
    if (this.headLength === 0) {
      end = chunk.indexOf(CRLF2, at);
      if (end < 0) {
        this.append(chunk, at, Math.min(chunk.length - at, MAX_HEAD + 4));
        this.checkKept(0);
        return chunk.length;
      }
      next = end + 4;
    } else {
      // A head over several reads: the new bytes appended (no more than the limit needs), searched from where the
      // last search stopped.
      const before = this.headLength;
      const took = Math.min(chunk.length - at, MAX_HEAD + 4 - before);
      this.append(chunk, at, took);
      buf = this.headBytes!;
      from = 0;
      end = buf.subarray(0, this.headLength).indexOf(CRLF2, Math.max(0, before - 3));
      if (end < 0) {
        this.checkKept(before);
        return chunk.length;
      }
      next = at + (end + 4 - before);
      this.headLength = 0;
    }
    if (end - from > MAX_HEAD) throw new ResponseParseError(`the answer's head is over ${MAX_HEAD} bytes`);
    const head = parseHead(buf.toString('latin1', from, end));
    this.headBytes = undefined;
    // 1xx: an interim answer; the real one follows. (101 would hand the connection to another protocol.)
    if (head.status === 101) throw new ResponseParseError('the answer switched protocols (101), which the router never asks for');
    if (head.status < 200) {
      if (++this.interim > MAX_INTERIM) throw new ResponseParseError(`more than ${MAX_INTERIM} interim (1xx) answers`);
      return next;
    }
    this.head = head;
    const framing = this.framing(head);
    // An answer read to the connection's end leaves nothing to reuse: said before the sink looks.
    if (framing === 'close') head.keepAlive = false;
    this.sink.onHead(head);
    if (framing === 'none') {
      this.finish(chunk, next);
    } else if (framing === 'chunked') {
      this.state = State.ChunkSize;
    } else if (framing === 'close') {
      this.state = State.ToClose;
    } else {
      this.left = framing;
      if (framing === 0) this.finish(chunk, next);
      else this.state = State.Length;
    }
    return next;
  }

  /**
   * No end of head yet in the bytes kept (`before` of them kept before this read): refuse a head over the limit or one
   * with bare LF line ends (which would never see CRLF CRLF: refused now rather than at the idle timeout).
   */
  private checkKept(before: number): void {
    // Up to 3 bytes of an unfinished CRLF CRLF may be kept beyond a head that is just within the limit.
    if (this.headLength > MAX_HEAD + 3) throw new ResponseParseError(`the answer's head is over ${MAX_HEAD} bytes`);
    const kept = this.headBytes!.subarray(0, this.headLength);
    if (kept.indexOf(LF2, Math.max(0, before - 1)) >= 0) throw new ResponseParseError('the answer\'s head has bare LF line ends');
  }

  /** `n` bytes of `chunk` from `at` after the head's kept bytes (a copy: the chunk's memory may be reused). */
  private append(chunk: Buffer, at: number, n: number): void {
    const need = this.headLength + n;
    if (!this.headBytes || this.headBytes.length < need) {
      const grown = Buffer.allocUnsafe(Math.max(need, 2 * (this.headBytes?.length ?? 256)));
      this.headBytes?.copy(grown, 0, 0, this.headLength);
      this.headBytes = grown;
    }
    chunk.copy(this.headBytes, this.headLength, at, at + n);
    this.headLength = need;
  }

  private framing(head: ResponseHead): 'none' | 'chunked' | 'close' | number {
    const { status, rawHeaders } = head;
    let length: number | undefined;
    let te: string | undefined;
    for (let i = 0; i < rawHeaders.length; i += 2) {
      const name = rawHeaders[i]!;
      if (name.length === 14 && name.toLowerCase() === 'content-length') {
        const v = rawHeaders[i + 1]!;
        if (!/^\d{1,15}$/.test(v)) throw new ResponseParseError(`the answer's Content-Length is not a number: ${v.slice(0, 40)}`);
        if (length !== undefined) throw new ResponseParseError('the answer has two Content-Lengths');
        length = Number(v);
      } else if (name.length === 17 && name.toLowerCase() === 'transfer-encoding') {
        te = te === undefined ? rawHeaders[i + 1]! : `${te}, ${rawHeaders[i + 1]!}`;
      }
    }
    if (te !== undefined && length !== undefined) throw new ResponseParseError('the answer has both Content-Length and Transfer-Encoding');
    // RFC 9112 6.1: an HTTP/1.0 message with Transfer-Encoding has faulty framing; its connection is not reused.
    if (te !== undefined && head.version === '1.0') head.keepAlive = false;
    // Checked above whatever the status: the headers of an answer without a body still reach the client.
    if (this.noBody || status === 204 || status === 304) return 'none';
    if (te !== undefined) {
      return /(?:^|,)[ \t]*chunked[ \t]*$/i.test(te) ? 'chunked' : 'close';
    }
    return length ?? 'close';
  }

  /** A chunk-size line: hex digits, maybe `;extensions`, CRLF. Size 0 starts the trailers. */
  private readChunkSize(chunk: Buffer, at: number): number {
    const lf = chunk.indexOf(0x0a, at);
    if (lf < 0) {
      this.keepPending(chunk, at);
      return chunk.length;
    }
    let line: string;
    if (this.pending) {
      line = Buffer.concat([this.pending, chunk.subarray(at, lf + 1)]).toString('latin1');
      this.pending = undefined;
    } else {
      line = chunk.toString('latin1', at, lf + 1);
    }
    const m = /^([0-9a-fA-F]{1,12})[ \t]*(?:;[^\r\n]*)?\r\n$/.exec(line);
    if (!m) throw new ResponseParseError(`a bad chunk-size line in the answer: ${JSON.stringify(line.slice(0, 40))}`);
    const size = parseInt(m[1]!, 16);
    if (size === 0) this.state = State.Trailers;
    else {
      this.left = size;
      this.state = State.ChunkData;
    }
    return lf + 1;
  }

  /**
   * Trailer lines after the last chunk, up to an empty line (dropped: the answer's head was sent already), each
   * checked as a header line is.
   */
  private readTrailers(chunk: Buffer, at: number): number {
    for (;;) {
      const lf = chunk.indexOf(0x0a, at);
      if (lf < 0) {
        this.trailerBytes += chunk.length - at;
        if (this.trailerBytes > MAX_HEAD) throw new ResponseParseError(`the answer's trailers are over ${MAX_HEAD} bytes`);
        this.keepPending(chunk, at);
        return chunk.length;
      }
      this.trailerBytes += lf + 1 - at;
      if (this.trailerBytes > MAX_HEAD) throw new ResponseParseError(`the answer's trailers are over ${MAX_HEAD} bytes`);
      const line = this.pending
        ? Buffer.concat([this.pending, chunk.subarray(at, lf + 1)]).toString('latin1')
        : chunk.toString('latin1', at, lf + 1);
      this.pending = undefined;
      at = lf + 1;
      if (!line.endsWith('\r\n')) throw new ResponseParseError('a trailer line of the answer has a bare LF line end');
      // "\r\n" alone ends the answer.
      if (line.length === 2) {
        this.finish(chunk, at);
        return at;
      }
      headerLine(line.slice(0, -2));
    }
  }

  private keepPending(chunk: Buffer, at: number): void {
    const rest = chunk.subarray(at);
    this.pending = this.pending ? Buffer.concat([this.pending, rest]) : Buffer.from(rest);
    if (this.pending.length > MAX_CHUNK_LINE) throw new ResponseParseError('a chunk-size or trailer line of the answer is too long');
  }
}

/** A header name (RFC 9110 token). */
export const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** A header value: no control characters but tab (node's checkInvalidHeaderChar). */
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;

/** Spaces and tabs off both ends (String.trim also takes other Unicode white space, 0xA0 among it). */
export function trimOws(v: string): string {
  let a = 0;
  let b = v.length;
  while (a < b && (v.charCodeAt(a) === 0x20 || v.charCodeAt(a) === 0x09)) a++;
  while (b > a && (v.charCodeAt(b - 1) === 0x20 || v.charCodeAt(b - 1) === 0x09)) b--;
  return a === 0 && b === v.length ? v : v.slice(a, b);
}

/** The status line and header lines of a head (without its final CRLF CRLF). */
function parseHead(text: string): ResponseHead {
  const lines = text.split('\r\n');
  const status = /^HTTP\/1\.([01]) ([1-9]\d\d)(?:[ \t].*)?$/.exec(lines[0]!);
  if (!status) throw new ResponseParseError(`a bad status line in the answer: ${JSON.stringify(lines[0]!.slice(0, 40))}`);
  const rawHeaders: string[] = [];
  let connection: string | undefined;
  for (let i = 1; i < lines.length; i++) {
    const [name, value] = headerLine(lines[i]!);
    if (name.length === 10 && name.toLowerCase() === 'connection') connection = connection === undefined ? value : `${connection}, ${value}`;
    rawHeaders.push(name, value);
  }
  const tokens = connection?.toLowerCase();
  const keepAlive = status[1] === '1' ? !tokens || !/(?:^|[ \t,])close(?:$|[ \t,])/.test(tokens) : !!tokens && /(?:^|[ \t,])keep-alive(?:$|[ \t,])/.test(tokens);
  return { status: Number(status[2]), version: `1.${status[1]}`, rawHeaders, keepAlive };
}

/**
 * One header (or trailer) line without its CRLF, as [name, value]. What node's ServerResponse would refuse to send on
 * (and llhttp refused to read) is refused here, so a bad header is a 502 before any of the answer is sent.
 */
function headerLine(line: string): [string, string] {
  const colon = line.indexOf(':');
  const c0 = line.charCodeAt(0);
  if (colon > 0 && c0 !== 0x20 && c0 !== 0x09) {
    const name = line.slice(0, colon);
    const value = trimOws(line.slice(colon + 1));
    if (TOKEN.test(name) && FIELD_VALUE.test(value)) return [name, value];
  }
  throw new ResponseParseError(`a bad header line in the answer: ${JSON.stringify(line.slice(0, 40))}`);
}
