import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { ApiKeysService } from '../services/api-keys.service.js';
import type { AccessControlOptions } from './access-control.js';
import { Whoami } from './schemas.js';

/**
 * Who the caller is to the access hook: which scope it holds and how it got it. Clients (the admin
 * UI) use it to offer only the actions the key allows.
 */
export function whoamiRoutes(deps: {
  apiKeys: Pick<ApiKeysService, 'list'>;
  access: Pick<AccessControlOptions, 'mode'>;
}): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.get(
      '/v1/hub/whoami',
      {
        config: { scope: 'read' },
        schema: {
          summary: "The caller's scope and how it was granted",
          description:
            '`auth` is `key` when an API key authenticated the request, `loopback` while no key exists and the hub answers loopback requests, `off` with AUTH=off; without a key every route is allowed (`scope: admin`).',
          tags: ['keys'],
          response: { 200: Whoami },
        },
      },
      async (request) => {
        const { keyId, scope } = request.auth;
        if (keyId === null || scope === 'open') {
          return {
            scope: 'admin' as const,
            key_prefix: null,
            auth: deps.access.mode === 'off' ? 'off' : 'loopback',
          } as const;
        }
        const key = (await deps.apiKeys.list()).find((k) => k.id === keyId);
        return { scope, key_prefix: key?.prefix ?? null, auth: 'key' as const };
      },
    );
  };
}
