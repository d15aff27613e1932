import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

/**
 * The admin UI: a Preact single-page app served by the hub at /ui (src/http/ui.routes.ts). Built
 * into dist/ui at the project root by `npm run build`; asset names carry content hashes.
 */
export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: '/ui/',
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir: fileURLToPath(new URL('../dist/ui', import.meta.url)),
    emptyOutDir: true,
    sourcemap: false,
    target: 'es2022',
  },
  server: {
    // `npx vite ui` in development: the API runs on its usual port.
    proxy: { '/v1': 'http://127.0.0.1:8000' },
  },
});
