# The image deploy/worker.yaml and deploy/receiver.yaml run: compiled JavaScript and production
# dependencies only, as a non-root user, on a read-only root filesystem (the worker loads workflows
# prebundled at build time, so nothing is written at runtime but the mounted /tmp and staging folder).
# Build:   docker build -t ghcr.io/virtual-coffee/vcp-runbooks:<build ID> .   (deploy/ROLLOUT.md)
# Commands: node dist/worker/main.js (default), node dist/receiver/main.js, node dist/client/cli.js
# test/unit/dockerfile.test.ts checks this file's shape; test/compiled-build.test.ts runs the build.

# The Node release the tests run on, pinned so a rebuild of a commit gets the same runtime. Node 20 is
# past its end of life (April 2026) and the AWS SDK will require 22 from January 2027: move this to a
# 22.x release together with the machines the tests run on (package.json engines allows >=22).
ARG NODE_IMAGE=node:20.20.2-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY common/ common/
COPY workflows/ workflows/
COPY activities/ activities/
COPY worker/ worker/
COPY client/ client/
COPY receiver/ receiver/
# tsc into dist/, then the workflow bundle and the files the compiled code reads (worker/build.ts).
RUN npm run build

FROM ${NODE_IMAGE} AS production-dependencies
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund

FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production
WORKDIR /app
# Owned by root and not writable by the user the process runs as.
COPY --from=production-dependencies /app/node_modules/ node_modules/
COPY --from=build /app/dist/ dist/
# The worker's default build ID names the package version (worker/workflow-bundle.ts).
COPY package.json ./
# Numeric, so Kubernetes' runAsNonRoot can verify it; deploy/*.yaml run as the same UID.
USER 10001:10001
CMD ["node", "dist/worker/main.js"]
