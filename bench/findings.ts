/** Hand-written after looking at the figures and profiles: what the tables do not say by themselves. */
export const FINDINGS = `
**The machine.** It is shared: 2 cores with five other sessions running test suites (the load averages above;
it rose to ~12 during this run; an earlier full run at load 15 gave the same picture with larger times). Every
process waits for a core: a tiny model's engine start took 3-15 s here. Read the CPU-second columns and the
ratios; on a quiet machine run \`npm run bench\` again.

**Proxy overhead: the targets are not met, and against a canned upstream they cannot be on this machine.**
Measured side by side over 300 sequential requests (CPU ticks from /proc), the router used about 4 ms of CPU
per request here, the canned upstream about 0.5 ms, and a 15-line node:http proxy about 1.5 ms. A proxy does
the upstream's HTTP work twice (server and client side) plus its own, so at 64 connections, where both sides
are CPU-bound on the same 2 cores, its throughput relative to an upstream that does nothing is bounded by that
cost ratio, far below 85%; much of the added latency is waiting for a core (a third of the router's profile
at 64 connections is idle while requests wait: it is descheduled). Against real inference (the engine rows)
the differences are inside the noise of inference (one engine row is faster through the router than direct).
- At 1 connection there is no fixed delay in the proxy path: the +12 ms p50 of an earlier run (load 15) did not
  come back. Looked for one: node 20 sets TCP_NODELAY on the agent's sockets to the child and on the server's
  (strace), the request's headers and body go to the child in one write, the answer's headers go with its
  first bytes, and the client's answer ends on the child's 'end', not on a 'close'. 500 sequential keep-alive
  requests (node client, load ~5): direct p50 0.38 ms / p10 0.23 ms, through the router 1.20 ms / 0.98 ms:
  +0.8 ms at both, the router's CPU per request, not a timer (a timer or Nagle would show as a fixed ~40 ms
  or a bimodal spread).
- Fixed (src/router/router.ts): a \`cmd\` model without \`memory =\` has no need the memory hooks can answer, and
  the router asked again on every request; past the 500 ms device cache each ask spawned nvidia-smi and
  rocm-smi on the request path (15% of the router's profile under load was ChildProcess.spawn).
- Fixed (src/http/proxy.ts): the kept body went to the child through a Readable piped per request; now one
  \`end(body)\`, which also sends headers and body in one write.
- What is left has no single hot spot (profile at 64 connections, fast upstream): node streams 9%, the write
  system calls 8%, events 6%, http outgoing 5%, http-proxy-3 3.5%, our proxy, scheduler, router and metrics
  together 7%, express and body-parser 4%. Closing the gap to a bare node:http proxy would mean serving the
  proxied routes outside express and http-proxy-3: not a small edit, not done. The body is parsed once (for
  \`model\`) and the kept bytes are forwarded as they came, never re-serialised.
- Fixed (src/http/app.ts): every proxied request aborted its AbortController on the normal close, building a
  DOMException each time; now only a client gone before its answer was sent aborts.
- Fixed (src/http/proxy.ts, src/engine/sse.ts): the bare 400 through the router to the bundled engine on a
  request sent right after a completed one (see cold start below). It was the engine's node server: the client's
  \`Connection: close\` was forwarded to the child over the router's kept-alive socket; node's parser then refuses
  any further request on that socket ("data after Connection: close", a bare 400, never in the access log), but
  the engine's SSE answers forced \`Connection: keep-alive\`, so the router pooled the socket and sent the next
  request on it: every other streamed request failed. The proxy no longer forwards hop-by-hop request headers,
  and the engine no longer forces the header. test/router/connection-close.test.ts sends such requests back to
  back through a real router to a real engine (it failed before both fixes). JSON answers were not affected
  (node closed those sockets), nor keep-alive clients (autocannon), nor the canned upstream (no forced header).
- The proxy table is from this part run again after these fixes (\`--only proxy\`, load 6-10; the other
  sections are from the full run). Against the run before them (load 4-12): JSON at 64 connections 11% of
  direct throughput (was 6%), +32 ms at p50 (was +155 ms); at 1 connection +0.7 ms (was +0.6 ms). An earlier
  attempt at load 18-22 gave 2-28% with the direct side 10-100 times slower: a measure of the machine.
- Per chunk: the time-to-last-chunk difference divided by the chunks is the only per-chunk figure measured;
  under this load it is dominated by scheduling delays, not by per-chunk work (the relay is a pipe()).

**Scheduling policies.** Ours bounds waiting: on zipf10, mixed and steady-vs-one its maximum wait is lower
than every alternative's (steady-vs-one: 20.8 s against 580 s for the count-only routers, whose hot model
starves the other). Found with the simulator and changed: ours used to drain a busy model the moment another
model waited, so the hot model's next requests queued behind the swap; on alternating that cost 71 loads and a
17.9 s p99 against llama-server's 66 and 15.3 s. Now busy victims keep taking their own requests for a batching
window (\`drainAfterMs\`, default 10 s) before they drain: alternating ties llama-server and llama-swap exactly
(66 loads, p99 15.3 s, max 16.0 s), zipf10 842 -> 836 loads, mixed 132 -> 124. The trade-offs, measured (window
0 / 5 / 10 / 20 s): alternating needs >= 10 s to stop the extra swaps (71 loads up to 5 s); the window adds to
the bounded wait, so steady-vs-one's maximum rose 16.6 -> 20.8 s (now worse than Ollama's 16.6 s) and mixed's
p99 60.2 -> 66.5 s (now worse than llama-server's 63.9 s; its maximum, 77.3 s, stays below 83.2 s). Loads are
still more than the count-only routers' on zipf10 (836 against 581) and mixed (124 against 113), and cannot be
matched without giving up wait: they batch by making requests wait (zipf10 median 21.3 s against our 6.0 s,
p99 58 s against 18.4 s), we load sooner. Also tried, not kept: not evicting an idle model that served a request
in the last 1-10 s while the waiter is inside the window (zipf10 down to 677 loads at 10 s, but p99 up to
23.1 s and worse bursty waits) and plain LRU instead of "fewest victims" (no gain: 859). On steady-vs-one the
extra loads (21 against 2) are the price of not starving B. On bursty, llama-swap with its default 429 guard
shows a lower p99 only because it rejected 842 of 1,456 requests (full run); without the guard ours is better
or the same. Ollama's model loses on most traces (one load at a time, eviction by keep-alive).

**Cold start: the router's share is now within the measure's noise (target ≤ 50 ms met in a --quick run at load
~9-15: median -11 ms over 3 runs, -91 to 52; it was ~350 ms).** Found with timestamps (router debug log; the engine's
access log): the router saw the child ready ~10-20 ms after its ready line, but the engine received the request
~90-110 ms after that, and a cold start after an unload also spent ~200 ms before the spawn. Three causes, fixed:
(1) on 'ready' the router measured the child's memory at once, and each device reading spawned nvidia-smi and
rocm-smi although absent (20-50 ms of blocked event loop per spawn here) before the waiting request was proxied:
src/devices/monitor.ts now remembers a missing tool for 10 minutes (logged once), and src/router/router.ts measures
after the waiting requests are dispatched (setImmediate); (2) a cold start waits for a fresh device reading (margin
set, or after an unload), and the router started every reading after a 200 ms coalescing timer: the first after a
quiet spell now starts at once; (3) readiness polling now caps at 100 ms instead of 500 ms
(src/supervisor/readiness.ts). On a GPU machine nvidia-smi still runs for that measurement, after the dispatch but
possibly before the request reaches the child (the connect completes on a later loop turn): not measured here.
- Fixed since: the bare 400 on a request sent right after a completed one (the "warm" request, node http with
  \`Connection: close\`) was the client's hop-by-hop header forwarded to the engine over a pooled socket (see the
  proxy paragraph); none in the later --quick run of sections 3 and 4.

**Footprint.** 1,000 streams held open through the router cost it about 55-60 MiB over idle (about 60 KiB a
stream: two sockets, the client's and the child's, and their buffers) and all were released (0 in flight after
the clients left). Start-up with 500 GGUF files: the catalogue is read before the server listens, the memory
estimates (one GGUF header read per model) start right after. The start is now ~0.7 CPU s to /health with one file
(was ~0.9): pino-pretty is loaded only for \`--log-format pretty\`. The wall-clock target (≤ 1 s to /models with 500
files) is not met in this run (2.1-2.8 s at load 9-15 on 2 shared cores; 0.95 s earlier on a quieter machine); the CPU
seconds are the figure to compare. What is left of the start is mostly module loading (execa, prom-client, express,
commander, http-proxy-3, pino: each 0.06-0.2 CPU s here); execa is used synchronously by the supervisor's spawn and
prom-client by the metrics object app.ts builds, so making them lazy is a larger change than this task's, not done.
The RSS after the estimates fell from ~150 MB to ~110 MB: the 500 header reads ran all at once (each with a file
handle and a 64 KiB window; 500 at once grew the heap by ~80 MB, one after another by ~6 MB, same CPU); they now run
4 at a time (src/gguf/reader.ts), and the estimate reads headers without decoding string arrays (the vocabulary:
~150k strings for a real model, of which it needs the count). The ~30 MB left is V8 growing its young generation
under the burst of 500 parallel estimates (heap used stays ~13 MB), not retained data.
`;
