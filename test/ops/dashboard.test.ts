/**
 * The dashboard in a real headless Chromium against a real router: the API key asked for
 * once, every model shown, a click on Load turns into "loaded" and a memory bar, live; the
 * Activity charts (tokens/s, latency, loads and evictions on one time axis) and the card layout.
 * Screenshots go to test-artifacts/ (and docs/screenshots/dashboard.png for the README).
 *
 * Needs Debian's chromium at /usr/bin/chromium (or CHROMIUM_PATH); without it this test fails.
 */
import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { tinyModel } from '../helpers/models.js';
import { chat, ROOT, startRouter, type RunningRouter } from '../helpers/router.js';
import { LONG, modelsDir, presetFile } from '../router/fixtures.js';

const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
/** The flags that work as root in these sandboxes (shared notes/toolchain.md); playwright adds a fresh profile dir. */
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const KEY = 'dashboard-test-key';
const ARTIFACTS = join(ROOT, 'test-artifacts');
const README_SHOT = join(ROOT, 'docs', 'screenshots', 'dashboard.png');

describe('dashboard in headless Chromium', () => {
  let r: RunningRouter;
  let browser: Browser;
  let page: Page;
  const problems: string[] = [];

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) {
      throw new Error(`Chromium not found at ${CHROMIUM}: install it (apt-get install -y chromium) or set CHROMIUM_PATH. This test does not skip.`);
    }
    const dir = await modelsDir(['chat-small', 'code-helper']);
    const large = await tinyModel({ sizeMb: 20, seed: 3 });
    const preset = presetFile(dir, `[chat-small]\nalias = default\n\n[chat-large]\nmodel = ${large}\npriority = 1\n`);
    r = await startRouter(['--models-dir', dir, '--models-preset', preset, '--models-max', '2', '--api-key', KEY]);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: FLAGS, timeout: 30_000 });
    page = await browser.newPage({ viewport: { width: 1280, height: 860 } });
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('console', (m) => {
      if (m.type() === 'error' && !/401/.test(m.text())) problems.push(`console: ${m.text()}`);
    });
    mkdirSync(ARTIFACTS, { recursive: true });
  });
  afterAll(async () => {
    await browser?.close();
    if (r) expect(await r.stop()).toBe(0);
  });

  test('asks for the API key once, then shows every model live', async () => {
    await page.goto(`${r.url}/`);
    await page.locator('#key-form').waitFor({ state: 'visible' });
    await page.fill('#key-input', KEY);
    await page.click('#key-form button[type=submit]');
    await page.locator('#conn[data-state="live"]').waitFor();
    expect(await page.locator('#key-form').isHidden()).toBe(true);
    // "live" is set when the stream's headers come; the cards are drawn from its first snapshot, a moment later.
    await page.locator('.model h3').nth(2).waitFor();
    const names = await page.locator('.model h3').allTextContents();
    expect(names.sort()).toEqual(['chat-large', 'chat-small', 'code-helper']);
    for (const n of names) expect(await page.locator(`.model[data-model="${n}"] .state`).textContent()).toBe('unloaded');
    await expect(page.locator('.model[data-model="chat-small"] .chip').first().textContent()).resolves.toBe('default');
    // The key is kept for the tab: a reload connects without asking.
    await page.reload();
    await page.locator('#conn[data-state="live"]').waitFor();
    expect(await page.locator('#key-form').isHidden()).toBe(true);
    expect(await page.evaluate("sessionStorage.getItem('model-router.api-key')")).toBe(KEY);
  });

  test('Load: the state becomes loaded and the memory bars appear', async () => {
    const card = page.locator('.model[data-model="chat-small"]');
    // Before it loads, the card shows what the model will need (the router estimates it at start).
    await card.locator('.source', { hasText: /^needs · (estimate|probe)/ }).waitFor({ timeout: 20_000 });
    expect(await page.locator('.device .seg[data-model="chat-small"]').count()).toBe(0);
    await card.locator('button.load').click();
    await card.locator('.state[data-state="loaded"]').waitFor({ timeout: 60_000 });
    // The model's own bar on its card, and its share of the device bar.
    await card.locator('.mem-bar span').waitFor({ state: 'visible', timeout: 20_000 });
    await page.locator('.device .seg[data-model="chat-small"]').first().waitFor({ state: 'visible', timeout: 20_000 });
    expect(await card.locator('.source').textContent()).toMatch(/^uses · (measured|estimate|probe)/);
    expect(await card.locator('button.load').isDisabled()).toBe(true);
    expect(await card.locator('button.unload').isEnabled()).toBe(true);
    // The event list saw it happen.
    await page.locator('.events li[data-type="status_change"]', { hasText: 'chat-small: loading → loaded' }).waitFor();
  });

  test('requests and a second model show up live; screenshots for the README', async () => {
    // Load through the API, not the page: the page learns of it from the stream.
    const load = await fetch(`${r.url}/models/load`, { method: 'POST', headers: { authorization: `Bearer ${KEY}` }, body: JSON.stringify({ model: 'chat-large' }) });
    expect(load.status).toBe(200);
    const res = await chat(r.url, 'chat-small', {}, { headers: { authorization: `Bearer ${KEY}` } });
    await res.text();
    const large = page.locator('.model[data-model="chat-large"]');
    await large.locator('.state[data-state="loaded"]').waitFor({ timeout: 30_000 });
    await page.locator('.device .seg[data-model="chat-large"]').first().waitFor({ state: 'visible', timeout: 20_000 });
    await page.locator('.model[data-model="chat-small"] dd', { hasText: /just now|s ago/ }).waitFor();

    // A request in flight: "last used" says now (it was "never" until a request had finished).
    const headers = { authorization: `Bearer ${KEY}` };
    const ac = new AbortController();
    const long = await chat(r.url, 'chat-large', LONG, { headers, signal: ac.signal });
    const reader = long.body!.getReader();
    await reader.read();
    await large.locator('.stats dd', { hasText: /^now$/ }).waitFor();
    ac.abort();
    await reader.read().catch(() => undefined);

    // Streams with tokens: the Activity charts draw chat-small's tokens/s and latency, and the loads as marks.
    for (let i = 0; i < 2; i++) await (await chat(r.url, 'chat-small', { stream: true, max_tokens: 8, ignore_eos: true }, { headers })).text();
    const tps = page.locator('[data-chart="tps"]');
    await tps.locator('path.line[data-model="chat-small"]').waitFor({ state: 'attached', timeout: 15_000 });
    await page.locator('[data-chart="latency"] path.line[data-model="chat-small"]').first().waitFor({ state: 'attached' });
    // Time to first byte, dashed, on the same chart.
    await page.locator('[data-chart="latency"] path.line.dashed[data-model="chat-small"]').waitFor({ state: 'attached' });
    await tps.locator('line.event[data-type="load"][data-model="chat-large"]').waitFor({ state: 'attached' });
    await tps.locator('line.event[data-type="load"][data-model="chat-small"]').waitFor({ state: 'attached' });
    expect(Number.parseFloat((await tps.locator('.legend li[data-model="chat-small"] b').textContent()) ?? '')).toBeGreaterThan(0);
    expect(await page.locator('[data-chart="latency"] .legend li[data-model="chat-small"] b').textContent()).toMatch(/^\d+(\.\d+)? ms$/);

    // At 1280 px the longest "last used" ("59 min ago") fits on one line, uncut.
    const fits = await page.evaluate(() =>
      // Runs in the page; this project has no DOM types.
      [...(globalThis as any).document.querySelectorAll('.model .stats div:last-child dd')].map((dd: any) => {
        const was = dd.textContent;
        dd.textContent = '1';
        const one = dd.offsetHeight;
        dd.textContent = '59 min ago';
        const ok = dd.scrollWidth <= dd.clientWidth && dd.offsetHeight === one;
        dd.textContent = was;
        return ok;
      }),
    );
    // One check per card (an empty list would pass the next line by itself).
    expect(fits.length).toBeGreaterThanOrEqual(3);
    expect(fits).toEqual(fits.map(() => true));

    // An open log panel grows its own card only, not the others in its row; its lines show their time.
    const heights = (): Promise<Record<string, number>> =>
      // Runs in the page; this project has no DOM types.
      page.evaluate(() => Object.fromEntries([...(globalThis as any).document.querySelectorAll('.model')].map((c: any) => [c.dataset.model, c.offsetHeight])));
    const before = await heights();
    const small = page.locator('.model[data-model="chat-small"]');
    await small.locator('button.logs-toggle').click();
    await small.locator('pre.logs', { hasText: /POST \/v1\/chat\/completions/ }).waitFor();
    const after = await heights();
    expect(after['chat-small']).toBeGreaterThan(before['chat-small']!);
    expect({ large: after['chat-large'], code: after['code-helper'] }).toEqual({ large: before['chat-large'], code: before['code-helper'] });
    const logLines = ((await small.locator('pre.logs').textContent()) ?? '').split('\n');
    for (const line of logLines) expect(line).toMatch(/^\d\d:\d\d:\d\d /);
    expect(logLines.join('\n')).not.toMatch(/GET \/health/);

    await page.waitForTimeout(600); // let the bars finish their transition
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard.png'), fullPage: true });
    if (!existsSync(README_SHOT) || process.env.UPDATE_SCREENSHOTS === '1') {
      mkdirSync(join(ROOT, 'docs', 'screenshots'), { recursive: true });
      copyFileSync(join(ARTIFACTS, 'dashboard.png'), README_SHOT);
    }
    // Readable on a phone: one column, nothing wider than the screen.
    await page.setViewportSize({ width: 390, height: 844 });
    await page.waitForTimeout(300);
    const overflow = (await page.evaluate('document.documentElement.scrollWidth - window.innerWidth')) as number;
    expect(overflow).toBeLessThanOrEqual(0);
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-phone.png'), fullPage: true });
    await page.setViewportSize({ width: 1280, height: 860 });
  });

  test('Unload: back to unloaded, its share of the device bar gone', async () => {
    const card = page.locator('.model[data-model="chat-small"]');
    await card.locator('button.unload').click();
    await card.locator('.state[data-state="unloaded"]').waitFor({ timeout: 30_000 });
    await page.locator('.device .seg[data-model="chat-small"]').first().waitFor({ state: 'detached', timeout: 10_000 });
    await page.locator('.events li[data-type="unload"]', { hasText: 'chat-small' }).waitFor();
  });

  test('no script errors on the page', () => {
    expect(problems).toEqual([]);
  });
});
