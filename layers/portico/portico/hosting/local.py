"""The local container platform: hosted servers as local processes behind the stdio bridge.

* ``package``: the command runs behind the bridge (``portico.hosting.bridge``) on a free 127.0.0.1 port.
* ``git``: cloned (URLs, ``file://`` URLs and local paths) into the server's directory under the
  runtime's state dir, its Python project installed into its own venv (``pip install``) or its Node
  project installed (``npm ci``/``npm install``), then run the same way.
* ``image``: run with a container engine when one answers (``docker info``); otherwise the
  deployment fails with "no container engine is available".

Children get a clean environment (PATH, HOME, locale, and the server's own env): never Portico's
AWS credentials or settings. Their output goes to CloudWatch Logs (moto locally).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path

from portico.hosting.platform import Progress, Workload
from portico.local.processes import Build, registry
from portico.settings import get_settings

PASSED_THROUGH = ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR", "SYSTEMROOT")
NO_ENGINE = "no container engine is available (image sources run locally only where `docker info` answers)"
GIT_PROTOCOLS = "file:https:http:ssh:git"


def clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """What a hosted process sees: a few harmless host variables and its own env, nothing else."""
    env = {k: os.environ[k] for k in PASSED_THROUGH if k in os.environ}
    env.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
    env.update(extra or {})
    return env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def engine_available() -> bool:
    docker = shutil.which("docker")
    if docker is None:
        return False
    try:
        return subprocess.run([docker, "info"], capture_output=True, timeout=10, check=False).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


class LocalPlatform:
    name = "local"

    def __init__(self, init_timeout: float | None = None) -> None:
        self.init_timeout = init_timeout or get_settings().hosting_init_timeout

    # ------------------------------------------------------------ layout
    def _dir(self, server_id: str) -> Path:
        root = get_settings().hosting_state_dir
        if not root:
            from portico.errors import ConfigurationError

            raise ConfigurationError("setting 'hosting_state_dir' is not configured")
        path = Path(root) / server_id
        path.mkdir(parents=True, exist_ok=True)
        return path

    # ------------------------------------------------------------ build (git)
    def start_build(self, w: Workload) -> str:
        build_id = f"build-{w.server_id}-{secrets.token_hex(4)}"
        target = self._dir(w.server_id) / build_id

        def work(state: Build) -> None:
            state.phase, state.message, state.image = self._build(w, target)

        registry().build(build_id, work)
        return build_id

    def _run(self, argv: list[str], cwd: Path, env: dict[str, str], what: str, timeout: float = 900) -> None:
        done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False)
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-5:]
            raise RuntimeError(f"{what} failed (exit {done.returncode}): " + " | ".join(tail))

    def _build(self, w: Workload, target: Path) -> tuple[str, str, str | None]:
        git = shutil.which("git")
        if git is None:
            return "failed", "git is not installed", None
        env = clean_env({"GIT_TERMINAL_PROMPT": "0", "GIT_ALLOW_PROTOCOL": GIT_PROTOCOLS})
        source = w.repository or ""
        self._run([git, "clone", "--quiet", "--", source, str(target)], target.parent, env, "git clone", 300)
        if w.ref:
            self._run([git, "checkout", "--quiet", "--detach", w.ref], target, env, f"git checkout {w.ref}")
        project = (target / w.subdirectory) if w.subdirectory else target
        if not project.is_dir() or not project.resolve().is_relative_to(target.resolve()):
            return "failed", f"subdirectory {w.subdirectory!r} is not in the repository", None
        if (
            (project / "pyproject.toml").exists()
            or (project / "setup.py").exists()
            or (project / "requirements.txt").exists()
        ):
            self._install_python(project)
        elif (project / "package.json").exists():
            npm = shutil.which("npm") or "npm"
            install = ["ci"] if (project / "package-lock.json").exists() else ["install"]
            self._run([npm, *install, "--no-audit", "--no-fund"], project, clean_env(), "npm install")
        else:
            return (
                "failed",
                "no Python (pyproject.toml, setup.py, requirements.txt) or Node (package.json) project found",
                None,
            )
        return "succeeded", "built", f"local:{project}"

    def _install_python(self, project: Path) -> None:
        venv = project / ".portico-venv"
        self._run([sys.executable, "-m", "venv", str(venv)], project, clean_env(), "python -m venv")
        # Locally, the runtime's installed packages are visible (read-only) to the project's venv so
        # its dependencies (the mcp SDK, say) resolve offline; pip installs whatever else it declares.
        purelib = sysconfig.get_paths()["purelib"]
        site = next((venv / "lib").glob("python*/site-packages"))
        (site / "_portico_runtime.pth").write_text(purelib + "\n")
        pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        if (project / "requirements.txt").exists():
            self._run([*pip, "-r", "requirements.txt"], project, clean_env(), "pip install -r requirements.txt")
        if (project / "pyproject.toml").exists() or (project / "setup.py").exists():
            self._run([*pip, "."], project, clean_env(), "pip install .")

    def build_status(self, build_id: str) -> Progress:
        state = registry().build_state(build_id)
        if state is None:
            return Progress("failed", f"unknown build {build_id} (did Portico restart?)")
        return Progress(state.phase, state.message, image=state.image)  # type: ignore[arg-type]

    # ------------------------------------------------------------ run
    def _command(self, w: Workload) -> tuple[list[str], Path, dict[str, str]]:
        """The stdio command, its working directory and extra PATH entries for this workload."""
        if w.source_type == "package":
            work = self._dir(w.server_id) / "work"
            work.mkdir(exist_ok=True)
            return [w.command or "", *w.args], work, {}
        project = Path((w.image or "").removeprefix("local:"))
        if not project.is_dir():
            raise RuntimeError("the build's project directory is gone: provision again")
        venv_bin = project / ".portico-venv" / "bin"
        path = os.pathsep.join(p for p in (str(venv_bin), str(project / "node_modules" / ".bin")) if p)
        extra = {"PATH": f"{path}{os.pathsep}{clean_env()['PATH']}"}
        if w.command:
            return [w.command, *w.args], project, extra
        return [*self._entry(project, venv_bin), *w.args], project, extra

    @staticmethod
    def _entry(project: Path, venv_bin: Path) -> list[str]:
        """How to run a project without a command: its first script, or its main file."""
        if (project / "pyproject.toml").exists():
            scripts = tomllib.loads((project / "pyproject.toml").read_text()).get("project", {}).get("scripts", {})
            if scripts:
                return [str(venv_bin / next(iter(scripts)))]
        for name in ("server.py", "main.py", "app.py"):
            if (project / name).exists():
                return [str(venv_bin / "python"), name]
        if (project / "package.json").exists():
            package = json.loads((project / "package.json").read_text())
            binary = package.get("bin")
            if isinstance(binary, dict) and binary:
                binary = next(iter(binary.values()))
            entry = binary if isinstance(binary, str) else package.get("main")
            if entry:
                return ["node", entry]
        raise RuntimeError("no entry point found: give a command (and args) for this repository")

    def deploy(self, w: Workload) -> None:
        if w.source_type == "image":
            self._deploy_image(w)
            return
        argv, cwd, extra = self._command(w)
        bridge = [sys.executable, "-m", "portico.hosting.bridge", "--init-timeout", f"{self.init_timeout:g}"]
        port = free_port()
        # The bridge runs with the runtime's interpreter (it imports the mcp SDK); the server it starts
        # sees only the clean environment plus its own variables.
        env = clean_env({**w.env, **extra})
        registry().start(
            w.server_id, [*bridge, "--port", str(port), "--", *argv], env, str(cwd), port, w.log_group, w.log_stream
        )

    def _deploy_image(self, w: Workload) -> None:
        if not engine_available():
            (self._dir(w.server_id) / "failure").write_text(NO_ENGINE)
            return
        docker = shutil.which("docker") or "docker"
        port = free_port()
        argv = [docker, "run", "--rm", "--name", f"portico-{w.server_id}", "-p", f"127.0.0.1:{port}:{w.port}"]
        argv += [f"--cpus={w.cpu / 1024:g}", f"--memory={w.memory}m"]
        for key in w.env:
            argv += ["-e", key]  # values come from the environment, never the command line
        argv.append(w.image or "")
        registry().start(
            w.server_id, argv, clean_env(w.env), str(self._dir(w.server_id)), port, w.log_group, w.log_stream
        )

    def deployment_status(self, w: Workload) -> Progress:
        failure = self._dir(w.server_id) / "failure"
        if failure.exists():
            return Progress("failed", failure.read_text())
        managed = registry().get(w.server_id)
        if managed is None:
            return Progress("failed", "the server is not deployed")
        code = managed.exited()
        if code is not None:
            tail = " | ".join(list(managed.tail)[-3:]) or "no output"
            return Progress("failed", f"the server exited (code {code}): {tail}")
        try:
            with socket.create_connection(("127.0.0.1", managed.port or 0), timeout=0.5):
                return Progress("running", endpoint_url=f"http://127.0.0.1:{managed.port}/mcp")
        except OSError:
            return Progress("pending", "starting")

    def scale(self, w: Workload, desired: int) -> None:
        if desired <= 0:
            registry().stop(w.server_id)
            return
        managed = registry().get(w.server_id)
        if managed is None or managed.exited() is not None:
            self.deploy(w)

    def remove(self, w: Workload) -> None:
        registry().stop(w.server_id)
        root = get_settings().hosting_state_dir
        if root:
            shutil.rmtree(Path(root) / w.server_id, ignore_errors=True)
