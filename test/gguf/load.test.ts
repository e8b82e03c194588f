/**
 * A generated model really loads and talks: node-llama-cpp in a child process (see fixtures/llama-chat.mjs).
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { tinyModel } from '../helpers/models.js';
import { ROOT } from './build.js';

const run = promisify(execFile);
const CHAT = join(ROOT, 'test', 'gguf', 'fixtures', 'llama-chat.mjs');
const PRINTABLE = /^[\x20-\x7e]*$/;

interface Reply {
  text: string;
  tokens: number;
  stopReason: string;
  wrapper: string;
  ms: number;
}
interface ChatResult {
  runtimeMs: number;
  loadMs: number;
  replies: Reply[];
  ignoreEos?: { tokens: number; eog: number; text: string; ms: number };
}

async function chat(model: string, ...args: string[]): Promise<ChatResult> {
  const { stdout } = await run(process.execPath, [CHAT, model, ...args], { cwd: ROOT, timeout: 50_000, maxBuffer: 1 << 20 });
  return JSON.parse(stdout.trim().split('\n').at(-1)!) as ChatResult;
}

function expectReadableStop(r: Reply): void {
  expect(r.text).toMatch(PRINTABLE);
  expect(r.stopReason).toBe('eogToken');
  expect(r.tokens).toBeGreaterThan(0);
  expect(r.tokens).toBeLessThanOrEqual(100);
  expect(r.wrapper).toBe('ChatML');
}

test('the ~1 MB model loads in node-llama-cpp, replies in printable ASCII, stops by itself, and runs on past EOS', async () => {
  const result = await chat(await tinyModel(), '--ignore-eos', '400');
  console.log(
    `tiny model: runtime ${result.runtimeMs} ms, load ${result.loadMs} ms, replies ` +
      result.replies.map((r) => `${r.tokens} tokens in ${r.ms} ms ${JSON.stringify(r.text)}`).join('; ') +
      `; ignore-eos ${result.ignoreEos!.tokens} tokens (${result.ignoreEos!.eog} EOS passed) in ${result.ignoreEos!.ms} ms`,
  );
  expect(result.loadMs).toBeLessThan(5000);
  for (const r of result.replies) expectReadableStop(r);
  expect(result.ignoreEos!.tokens).toBe(400);
  expect(result.ignoreEos!.text).toMatch(PRINTABLE);
  expect(result.ignoreEos!.text.length).toBeGreaterThan(300);
});

test('the 50 MB model loads and replies the same way', async () => {
  const result = await chat(await tinyModel({ sizeMb: 50 }));
  console.log(`50 MB model: load ${result.loadMs} ms, replies ${result.replies.map((r) => `${r.tokens} tokens in ${r.ms} ms`).join('; ')}`);
  for (const r of result.replies) expectReadableStop(r);
});

(process.env.ROUTER_LONG_TESTS === '1' ? test : test.skip)('the 500 MB model loads and replies (ROUTER_LONG_TESTS=1)', async () => {
  const result = await chat(await tinyModel({ sizeMb: 500 }));
  console.log(`500 MB model: load ${result.loadMs} ms, replies ${result.replies.map((r) => `${r.tokens} tokens in ${r.ms} ms`).join('; ')}`);
  for (const r of result.replies) expectReadableStop(r);
}, 120_000);
