"""The runner image, the build spec and the generated-Dockerfile templates (no Docker here: parsed, and the
entry-point scripts run for real on sample projects)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from portico.local.template import Template

ROOT = Path(__file__).resolve().parents[2]
RUNNER = ROOT / "infra" / "runner"
BUILDSPEC = ROOT / "infra" / "codebuild" / "buildspec.yml"


def instructions(dockerfile: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", dockerfile.read_text())
    pairs = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            pairs.append((keyword.upper(), rest.strip()))
    return pairs


def test_runner_image_is_node_20_and_python_3_12_with_pinned_uv_and_bridge_as_a_non_root_user() -> None:
    steps = instructions(RUNNER / "Dockerfile")
    args = dict(a[1].split("=", 1) for a in steps if a[0] == "ARG" and "=" in a[1])
    assert args["NODE_IMAGE"].startswith("node:20-")
    assert args["PYTHON_IMAGE"].startswith("python:3.12-")
    assert args["UV_VERSION"] == "0.13.8"
    assert args["MCP_PROXY_VERSION"] == "0.13.0"
    runs = " ".join(a[1] for a in steps if a[0] == "RUN")
    assert '"uv==${UV_VERSION}"' in runs
    assert 'uv tool install "mcp-proxy==${MCP_PROXY_VERSION}"' in runs
    users = [a[1] for a in steps if a[0] == "USER"]
    assert users == ["runner"]
    assert [a[1] for a in steps if a[0] == "EXPOSE"] == ["8080"]


def test_runner_entrypoint_bridges_stdio_to_streamable_http_on_all_interfaces_port_8080() -> None:
    steps = instructions(RUNNER / "Dockerfile")
    (entrypoint,) = [json.loads(a[1]) for a in steps if a[0] == "ENTRYPOINT"]
    # mcp-proxy 0.13.0's CLI: `mcp-proxy [options] -- command args…` serves the stdio server at /mcp.
    assert entrypoint == [
        "tini",
        "--",
        "mcp-proxy",
        "--host",
        "0.0.0.0",
        "--port",
        "8080",
        "--stateless",
        "--pass-environment",
        "--",
    ]
    (cmd,) = [json.loads(a[1]) for a in steps if a[0] == "CMD"]
    assert cmd[0] == "npx"
    copied = " ".join(a[1] for a in steps if a[0] == "COPY")
    assert "detect_entry.py start.py /opt/portico/" in copied
    assert "templates/ /opt/portico/templates/" in copied


@pytest.mark.parametrize("kind", ["python", "node"])
def test_generated_dockerfile_templates_build_on_the_runner_and_start_the_detected_entry(kind: str) -> None:
    steps = instructions(RUNNER / "templates" / f"{kind}.Dockerfile")
    assert steps[0] == ("ARG", "RUNNER_IMAGE")
    assert steps[1] == ("FROM", "${RUNNER_IMAGE}")
    assert "python3 /opt/portico/detect_entry.py /app > /app/.portico-entry.json" in " ".join(
        a[1] for a in steps if a[0] == "RUN"
    )
    (cmd,) = [json.loads(a[1]) for a in steps if a[0] == "CMD"]
    assert cmd == ["python3", "/opt/portico/start.py", "/app/.portico-entry.json"]
    assert not [a for a in steps if a[0] == "ENTRYPOINT"], "the runner's bridge entrypoint must stay"


def test_buildspec_uses_what_start_build_sends_and_exports_the_image() -> None:
    spec = yaml.safe_load(BUILDSPEC.read_text())
    assert spec["version"] == 0.2
    assert spec["env"]["exported-variables"] == ["IMAGE_URI"]
    commands = "\n".join(c for phase in spec["phases"].values() for c in phase["commands"])
    for variable in (
        "REPOSITORY_URL",
        "SOURCE_REF",
        "SOURCE_SUBDIR",
        "IMAGE_REPOSITORY",
        "IMAGE_TAG_PREFIX",
        "SERVER_ID",
    ):
        assert f"${{{variable}" in commands or f"${variable}" in commands, variable
    assert 'git clone --quiet -- "$REPOSITORY_URL"' in commands
    assert "--end-of-options" in commands
    assert 'IMAGE_URI="${IMAGE_REPOSITORY}:${IMAGE_TAG_PREFIX}-$(git rev-parse --short=12 HEAD)"' in commands
    assert "/opt/portico/templates/$kind.Dockerfile" in commands
    assert 'docker push "$IMAGE_URI"' in commands
    for kind in ("python", "node"):
        assert (RUNNER / "templates" / f"{kind}.Dockerfile").is_file()


def test_the_template_carries_the_buildspec_file_verbatim() -> None:
    template = Template.from_file(ROOT / "template.yaml", "us-east-1", {"Stage": "test"})
    project = template.resources["ImageBuildProject"]["Properties"]
    assert project["Source"]["BuildSpec"] == BUILDSPEC.read_text()
    assert project["Environment"]["PrivilegedMode"] is True


# ------------------------------------------------------------------ detect_entry.py / start.py, run for real
def detect(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(RUNNER / "detect_entry.py"), str(root)], capture_output=True, text=True, check=False
    )


@pytest.mark.parametrize(
    ("files", "argv"),
    [
        ({"pyproject.toml": '[project]\nname = "x"\n[project.scripts]\nx-server = "x:main"\n'}, ["x-server"]),
        ({"pyproject.toml": '[project]\nname = "x"\n', "src/x_server/__main__.py": ""}, ["python", "-m", "x_server"]),
        ({"requirements.txt": "mcp\n", "server.py": ""}, ["python", "server.py"]),
        ({"package.json": '{"name": "x", "bin": "dist/index.js"}'}, ["node", "dist/index.js"]),
        ({"package.json": '{"name": "x", "bin": {"x": "cli.js"}, "main": "lib.js"}'}, ["node", "cli.js"]),
        ({"package.json": '{"name": "x", "main": "server.js"}'}, ["node", "server.js"]),
        ({"package.json": '{"name": "x", "scripts": {"start": "node s.js"}}'}, ["npm", "start", "--silent"]),
    ],
)
def test_detect_entry_finds_how_a_project_starts(tmp_path: Path, files: dict[str, str], argv: list[str]) -> None:
    for name, content in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(content)
    result = detect(tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == argv


def test_detect_entry_fails_the_build_with_a_reason_when_nothing_starts(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("mcp\n")
    result = detect(tmp_path)
    assert result.returncode != 0
    assert "cannot tell how to start" in result.stderr


def test_start_execs_the_recorded_argv(tmp_path: Path) -> None:
    entry = tmp_path / "entry.json"
    entry.write_text(json.dumps([sys.executable, "-c", "import sys; print('stdio server', sys.argv[1:])", "a"]))
    result = subprocess.run(
        [sys.executable, str(RUNNER / "start.py"), str(entry)], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "stdio server ['a']"
