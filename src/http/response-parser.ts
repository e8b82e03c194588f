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
 * Continue, 103 Early Hints); no body for 204, 304 and an answer to HEAD; a body framed by Transfer-Encoding
 * (chunked last: the chunks decoded, their extensions and trailers dropped; any other: read to the connection's
 * end), else by Content-Length, else read to the connection's end. What it refuses, as an error (the connection is
 * then closed; the client gets a 502, or a cut answer once its head was sent): a head over 64 KiB or with bare LF
 * line ends, a bad status line, a header line without a colon, folded (obs-fold), with a name that is not a token or
 * a value with control characters, a Content-Length that is not digits, given twice or beside Transfer-Encoding (the
 * ambiguity request smuggling lives on), a bad chunk-size line, a chunk not followed by CRLF. (Unlike llhttp, a
 * trailer line is only looked at for where it ends.)
 */

/** The head's limit: node's default (--max-http-header-size) is 16 KiB; a child's answer head is ~200 bytes. */
const MAX_HEAD = 64 * 1024;
/** A chunk-size line (size, extensions) longer than this is refused. */
const MAX_CHUNK_LINE = 4096;
const CRLF2 = Buffer.from('\r\n\r\n');
const LF2 = Buffer.from('\n\n');

export interface ResponseHead {
  status: number;
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

  /** Bytes of `chunk` from `at` joined to what is pending: one Buffer, copied only when a line spans reads. */
  private joined(chunk: Buffer, at: number): Buffer {
    const rest = at === 0 ? chunk : chunk.subarray(at);
    if (!this.pending) return rest;
    const b = Buffer.concat([this.pending, rest]);
    this.pending = undefined;
    return b;
  }

  private readHead(chunk: Buffer, at: number): number {
    const pendingLength = this.pending?.length ?? 0;
    const buf = this.joined(chunk, at);
    const end = buf.indexOf(CRLF2, Math.max(0, pendingLength - 3));
    if (end < 0) {
      if (buf.length > MAX_HEAD) throw new ResponseParseError(`the answer's head is over ${MAX_HEAD} bytes`);
      // A head ended by bare LFs would never see CRLF CRLF: refused now rather than at the idle timeout.
      if (buf.includes(LF2)) throw new ResponseParseError('the answer\'s head has bare LF line ends');
      this.pending = Buffer.from(buf); // a copy: the chunk's memory may be reused by the caller
      return chunk.length;
    }
    if (end > MAX_HEAD) throw new ResponseParseError(`the answer's head is over ${MAX_HEAD} bytes`);
    // Where the head ended, in `chunk`'s offsets.
    const next = at + (end + 4 - pendingLength);
    const head = parseHead(buf.toString('latin1', 0, end));
    // 1xx: an interim answer; the real one follows.
    if (head.status < 200) return next;
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

  private framing(head: ResponseHead): 'none' | 'chunked' | 'close' | number {
    const { status, rawHeaders } = head;
    if (this.noBody || status === 204 || status === 304) return 'none';
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
    if (te !== undefined) {
      if (length !== undefined) throw new ResponseParseError('the answer has both Content-Length and Transfer-Encoding');
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

  /** Trailer lines after the last chunk, up to an empty line (dropped: the answer's head was sent already). */
  private readTrailers(chunk: Buffer, at: number): number {
    for (;;) {
      const lf = chunk.indexOf(0x0a, at);
      if (lf < 0) {
        this.keepPending(chunk, at);
        return chunk.length;
      }
      const lineLength = (this.pending?.length ?? 0) + lf + 1 - at;
      this.pending = undefined;
      at = lf + 1;
      // "\r\n" alone (a bare "\n" too, as llhttp's lenient mode) ends the answer.
      if (lineLength <= 2) {
        this.finish(chunk, at);
        return at;
      }
    }
  }

  private keepPending(chunk: Buffer, at: number): void {
    const rest = chunk.subarray(at);
    this.pending = this.pending ? Buffer.concat([this.pending, rest]) : Buffer.from(rest);
    if (this.pending.length > MAX_CHUNK_LINE) throw new ResponseParseError('a chunk-size or trailer line of the answer is too long');
  }
}

/** A header name (RFC 9110 token). */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** A header value: no control characters but tab (node's checkInvalidHeaderChar). */
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;

/** Spaces and tabs off both ends (String.trim also takes other Unicode white space, 0xA0 among it). */
function trimOws(v: string): string {
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
    const line = lines[i]!;
    const colon = line.indexOf(':');
    const c0 = line.charCodeAt(0);
    if (colon <= 0 || c0 === 0x20 || c0 === 0x09) throw new ResponseParseError(`a bad header line in the answer: ${JSON.stringify(line.slice(0, 40))}`);
    const name = line.slice(0, colon);
    const value = trimOws(line.slice(colon + 1));
    // What node's ServerResponse would refuse to send on (and llhttp refused to read): checked here, so a bad
    // header is a 502 before any of the answer is sent.
    if (!TOKEN.test(name) || !FIELD_VALUE.test(value)) {
      throw new ResponseParseError(`a bad header line in the answer: ${JSON.stringify(line.slice(0, 40))}`);
    }
    if (name.length === 10 && name.toLowerCase() === 'connection') connection = connection === undefined ? value : `${connection}, ${value}`;
    rawHeaders.push(name, value);
  }
  const tokens = connection?.toLowerCase();
  const keepAlive = status[1] === '1' ? !tokens || !/(?:^|[ ,])close(?:$|[ ,])/.test(tokens) : !!tokens && /(?:^|[ ,])keep-alive(?:$|[ ,])/.test(tokens);
  return { status: Number(status[2]), rawHeaders, keepAlive };
}
