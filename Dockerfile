# Sluice: one image for every role (`sluice scheduler`, `sluice worker`, `sluice server`).
# Build: docker build -t sluice:0.1.0 .   Your DAGs: see docs/deploy.md (a derived image or a volume at /app/dags).

FROM node:20-slim AS build
WORKDIR /app
# better-sqlite3 downloads a prebuilt binary; the compilers are the fallback when none matches
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json tsconfig.json tsconfig.build.json ./
COPY bin ./bin
COPY src ./src
# npm ci runs `prepare`, which builds dist/ with the dev dependencies; then they go
RUN npm ci && npm prune --omit=dev

FROM node:20-slim
ENV NODE_ENV=production \
    SLUICE_HOME=/var/lib/sluice \
    SLUICE_DAGS=/app/dags \
    SLUICE_HOST=0.0.0.0
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/bin ./bin
COPY --from=build /app/dist ./dist
COPY --from=build /app/node_modules ./node_modules
# DAG files under /app/dags import "sluice" by the package's own name (Node resolves it to /app)
RUN mkdir -p /app/dags /var/lib/sluice && chown -R node:node /var/lib/sluice
USER node
EXPOSE 8080
ENTRYPOINT ["node", "/app/bin/sluice.js"]
CMD ["worker"]
