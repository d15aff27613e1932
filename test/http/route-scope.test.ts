import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { installAccessControl } from '../../src/http/access-control.js';

const keys = { anyKeys: async () => false, authenticate: async () => null };

describe('route scopes', () => {
  it('refuses to register an API route that declares no scope', async () => {
    const app = Fastify();
    installAccessControl(app, { keys, mode: 'auto', listenHost: '127.0.0.1', metricsPublic: false });
    expect(() => app.get('/v1/hub/forgotten', async () => ({}))).toThrow(
      'GET /v1/hub/forgotten declares no access scope',
    );
  });

  it("documents each declared scope as the route's OpenAPI security requirement", async () => {
    const app = Fastify();
    installAccessControl(app, { keys, mode: 'auto', listenHost: '127.0.0.1', metricsPublic: false });
    const seen: unknown[] = [];
    app.addHook('onRoute', (route) => {
      seen.push((route.schema as { security?: unknown } | undefined)?.security);
    });
    app.post('/v1/hub/thing', { config: { scope: 'write' }, schema: {} }, async () => ({}));
    await app.ready();
    expect(seen).toContainEqual([{ apiKey: ['write'] }]);
  });
});
