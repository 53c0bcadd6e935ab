# syntax=docker/dockerfile:1
# Build stage: compile TypeScript and generate gRPC types.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY proto ./proto
COPY src ./src
RUN npm run build && npm prune --omit=dev

# Runtime stage: only what `wxtoken serve` needs, as an unprivileged user.
FROM node:20-bookworm-slim
ENV NODE_ENV=production
# glibc's huge pages for the off-heap reply table: see src/cli/node-flags.ts (SERVE_ENV).
ENV GLIBC_TUNABLES=glibc.malloc.hugetlb=1
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY bin ./bin
COPY proto ./proto
USER node
EXPOSE 50051 9464
# Readiness of this replica (service ""). With `tls:` in the config, give the container
# WXTOKEN_TLS=1 and WXTOKEN_TLS_CA (plus WXTOKEN_TLS_CERT / WXTOKEN_TLS_CERT_KEY under mutual TLS,
# and WXTOKEN_TLS_SERVER_NAME when the certificate does not name 127.0.0.1): the check reads them,
# so the same line works for plaintext, TLS and mTLS (test/e2e/cli-diagnosis.test.ts runs it).
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 CMD ["node", "bin/wxtoken.js", "health", "--addr", "127.0.0.1:50051"]
# The Node and V8 flags: see src/cli/node-flags.ts (V8 reads its own only from the command line).
ENTRYPOINT ["node", "--no-memory-reducer", "--heap-growing-percent=80", "--v8-pool-size=1", "--no-allocation-site-pretenuring", "bin/wxtoken.js"]
CMD ["serve", "--config", "/etc/wxtoken/wxtoken.yaml"]
