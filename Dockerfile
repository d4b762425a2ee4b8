# Lívia: one process serving the API, Socket.io, SSE and the web app on port 3000.
# Build: docker build -t livia .
# Run:   docker run -p 3000:3000 -e JWT_SECRET=... -e WEBHOOK_SECRET=... -e DATABASE_URL=... livia
#        (without DATABASE_URL an embedded PostgreSQL is kept in the /data volume)

FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
# patch-package applies patches/ from the postinstall script.
COPY patches ./patches
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm run build:ui && npm prune --omit=dev --no-audit --no-fund

FROM node:20-bookworm-slim
ENV NODE_ENV=production \
    PORT=3000 \
    DATA_DIR=/data \
    WHATSAPP_SESSIONS_DIR=/app/baileys_sessions
WORKDIR /app
RUN groupadd --system livia && useradd --system --gid livia --home-dir /app livia \
 && mkdir -p /data /app/baileys_sessions && chown livia:livia /data /app/baileys_sessions
COPY --from=build --chown=livia:livia /app/package.json /app/package-lock.json ./
COPY --from=build --chown=livia:livia /app/node_modules ./node_modules
COPY --from=build --chown=livia:livia /app/src ./src
COPY --from=build --chown=livia:livia /app/migrations ./migrations
COPY --from=build --chown=livia:livia /app/ui/dist ./ui/dist
COPY --from=build --chown=livia:livia /app/ui/server ./ui/server
USER livia
VOLUME ["/data", "/app/baileys_sessions"]
EXPOSE 3000
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:'+(process.env.PORT||3000)+'/health').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
# Signals reach node directly (no npm wrapper), so SIGTERM shuts down gracefully.
CMD ["node", "--import", "tsx", "src/main.ts"]
