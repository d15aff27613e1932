# Model Hub: one image for every role. `serve` (default) runs the HTTP API, plus the job worker
# unless WORKER=off; `worker` runs the job worker only (needs REDIS_URL); `migrate` applies
# database migrations and exits (they also run at every start).

# --- build: compile TypeScript and native modules (better-sqlite3), then drop dev dependencies ---
FROM node:20-bookworm-slim AS build
RUN apt-get update \
  && apt-get install -y --no-install-recommends python3 make g++ \
  && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json tsconfig.json tsconfig.build.json ./
COPY src ./src
# The admin UI (built into dist/ui by the same `npm run build`).
COPY ui ./ui
COPY scripts ./scripts
# `npm ci` also builds (the `prepare` script), so the sources are copied first.
RUN npm ci && npm prune --omit=dev

# --- runtime: compiled code and production dependencies only ---
# HOST=0.0.0.0 so a published port reaches it; with that, the hub refuses to start until an API key
# exists (`docker run … model-hub keys create --scope admin` against the same database) or AUTH=off.
FROM node:20-bookworm-slim
ENV NODE_ENV=production \
  HOST=0.0.0.0 \
  MODEL_STORE_PATH=/data/model-store
WORKDIR /app
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# The store is written as the unprivileged `node` user; creating it here makes a fresh named volume
# mounted on it start out owned by that user.
RUN mkdir -p /data/model-store && chown -R node:node /data
USER node
EXPOSE 8000
ENTRYPOINT ["node", "--enable-source-maps", "--max-semi-space-size=1", "--v8-pool-size=2", "--liftoff-only", "dist/src/cli.js"]
CMD ["serve"]
