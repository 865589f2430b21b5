# Generated image for a git source that is a Node MCP project (package.json) without a Dockerfile:
# dependencies installed (lockfile honoured), the build script run if there is one, dev dependencies
# pruned; the runner image's entrypoint bridges the project's stdio server to Streamable HTTP on :8080/mcp.
ARG RUNNER_IMAGE
FROM ${RUNNER_IMAGE}
COPY --chown=runner:runner . /app
WORKDIR /app
RUN if [ -f package-lock.json ]; then npm ci --no-audit --no-fund; else npm install --no-audit --no-fund; fi \
    && npm run build --if-present \
    && npm prune --omit=dev --no-audit --no-fund \
    && python3 /opt/portico/detect_entry.py /app > /app/.portico-entry.json
ENV NODE_ENV=production
CMD ["python3", "/opt/portico/start.py", "/app/.portico-entry.json"]
