# Generated image for a git source that is a Python MCP project (pyproject.toml or requirements.txt)
# without a Dockerfile: the project is installed into its own virtualenv on top of the runner image,
# whose entrypoint bridges the project's stdio server to Streamable HTTP on :8080/mcp.
ARG RUNNER_IMAGE
FROM ${RUNNER_IMAGE}
COPY --chown=runner:runner . /app
WORKDIR /app
RUN uv venv --python python3.12 /app/.venv \
    && if [ -f pyproject.toml ]; then uv pip install --python /app/.venv/bin/python . ; \
       else uv pip install --python /app/.venv/bin/python -r requirements.txt ; fi \
    && python3 /opt/portico/detect_entry.py /app > /app/.portico-entry.json
ENV VIRTUAL_ENV=/app/.venv PATH=/app/.venv/bin:$PATH
CMD ["python3", "/opt/portico/start.py", "/app/.portico-entry.json"]
