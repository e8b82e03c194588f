/**
 * The dashboard: `GET /` and `GET /ui` serve one HTML page, `/ui/dashboard.js` and
 * `/ui/dashboard.css` its script and style. No front-end build: the files are read from
 * src/http/dashboard/ under the package root, which is where they are whether the router
 * runs from source (jest) or from dist/ (`npm run build` compiles TypeScript only).
 *
 * These routes are open without the API key: they hold no data. The page asks for the key
 * when its first data request gets a 401 and sends it as a Bearer header (see dashboard.js).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import express, { type Request, type Response } from 'express';
import { packageRoot } from '../../package/paths.js';
import { sendError } from '../errors.js';

const files: Record<string, { file: string; type: string }> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/ui': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/ui/dashboard.js': { file: 'dashboard.js', type: 'text/javascript; charset=utf-8' },
  '/ui/dashboard.css': { file: 'dashboard.css', type: 'text/css; charset=utf-8' },
};

export function dashboardDir(): string {
  return join(packageRoot(), 'src', 'http', 'dashboard');
}

export function dashboardRoutes(): express.RequestHandler {
  const r = express.Router({ strict: false });
  const dir = dashboardDir();
  for (const [path, { file, type }] of Object.entries(files)) {
    r.get(path, async (_req: Request, res: Response) => {
      try {
        // Read per request: a few KB, and an edited file shows without a restart.
        const body = await readFile(join(dir, file));
        res.setHeader('Content-Type', type);
        res.setHeader('Cache-Control', 'no-cache');
        res.setHeader('X-Content-Type-Options', 'nosniff');
        res.setHeader('Referrer-Policy', 'no-referrer');
        res.setHeader('X-Frame-Options', 'DENY');
        res.setHeader(
          'Content-Security-Policy',
          "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        );
        res.send(body);
      } catch (err) {
        sendError(res, err);
      }
    });
  }
  // Only GET and HEAD go in: for OPTIONS the router would answer a bare 200 "GET, HEAD"
  // itself, where every other route gives the app's JSON 404.
  return (req, res, next) => (req.method === 'GET' || req.method === 'HEAD' ? r(req, res, next) : next());
}
