import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

/**
 * The admin UI (`ui/`, built by `npm run build` into `dist/ui`) as static files under `/ui`, from
 * the same process and port as the API. The files hold no data, so they need no key (like `/healthz`,
 * these routes are outside `/v1` and declare no scope: the access hook treats them as public); every
 * API call the page makes sends the key.
 * - `/ui`, `/ui/` and any deep link that is not a file (`/ui/jobs/<id>`) answer `index.html`, which
 *   routes on the client; `index.html` is never cached, so a new build is picked up at once.
 * - `/ui/assets/*` have content hashes in their names: cached for a year, immutable.
 * - Without a build, `/ui` answers 503 saying to run `npm run build`. Files are looked up per
 *   request: a rebuild needs no restart.
 * - `/` redirects to `/ui/`.
 */
export interface UiRoutesOptions {
  /** The built UI; `<package root>/dist/ui` by default. */
  root?: string;
}

const IMMUTABLE = 'public, max-age=31536000, immutable';
const NO_CACHE = 'no-cache';

/** The folder holding package.json, above this module (`src/http` in development, `dist/src/http` once built). */
function packageRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (fs.existsSync(path.join(dir, 'package.json'))) return dir;
    const parent = path.dirname(dir);
    if (parent === dir) return process.cwd();
    dir = parent;
  }
}

export function defaultUiRoot(): string {
  return path.join(packageRoot(), 'dist', 'ui');
}

export function uiRoutes(options: UiRoutesOptions = {}) {
  const root = path.resolve(options.root ?? defaultUiRoot());
  const assets = path.join(root, 'assets');
  return async (app: FastifyInstance) => {
    const routeOptions = { schema: { hide: true } };
    // Nothing else lives at `/`: a browser pointed at the hub lands on the UI.
    app.get('/', routeOptions, async (_request, reply) => reply.redirect('/ui/', 302));

    if (!fs.existsSync(path.join(root, 'index.html'))) {
      app.log.warn({ root }, 'the admin UI is not built: /ui answers 503 until `npm run build`');
    }
    // Files are looked up per request, so a rebuild is served without a restart.
    await app.register(fastifyStatic, {
      root: assets,
      prefix: '/ui/assets/',
      wildcard: true,
      index: false,
      cacheControl: false,
      dotfiles: 'deny',
      // A missing build is reported once below and answered by `/ui` with a 503.
      suppressWarning: true,
      // Also called for index.html (sent by `sendIndex` through this plugin's `sendFile`).
      setHeaders: (reply, filePath) => {
        reply.header('cache-control', path.basename(filePath) === 'index.html' ? NO_CACHE : IMMUTABLE);
      },
    });

    const sendIndex = async (request: FastifyRequest, reply: FastifyReply) => {
      const last = request.url.split('?')[0]?.split('/').at(-1) ?? '';
      // A file that is not there (`/ui/favicon.ico`) is a 404, not a page.
      if (last.includes('.')) return reply.callNotFound();
      if (!fs.existsSync(path.join(root, 'index.html'))) {
        return reply.status(503).send({
          error: {
            code: 'UI_NOT_BUILT',
            message: 'The admin UI is not built: run `npm run build` (it writes dist/ui)',
            request_id: String(request.id),
          },
        });
      }
      return reply.sendFile('index.html', root);
    };
    app.get('/ui', routeOptions, sendIndex);
    app.get('/ui/', routeOptions, sendIndex);
    app.get('/ui/*', routeOptions, sendIndex);
  };
}
