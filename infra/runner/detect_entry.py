"""Decide how to start an MCP project's stdio server; print it as a JSON argv.

Runs at image build time (generated Dockerfiles for git sources without a Dockerfile), so a project
that cannot be started fails its build with a message instead of failing later in ECS.

Python: the first ``[project.scripts]`` entry, else ``python -m <package>`` for a package with
``__main__.py``, else ``server.py`` / ``main.py`` / ``app.py``. Node: ``bin`` (a string or the first
entry), else ``main``, else ``npm start`` when a start script exists, else ``index.js``.
"""

from __future__ import annotations

import json
import sys
import tomllib
from pathlib import Path

PYTHON_FILES = ("server.py", "main.py", "app.py")


def python_entry(root: Path) -> list[str] | None:
    pyproject = root / "pyproject.toml"
    if pyproject.is_file():
        project = tomllib.loads(pyproject.read_text()).get("project", {})
        scripts = project.get("scripts") or {}
        if scripts:
            return [next(iter(scripts))]
    for main in sorted(root.glob("*/__main__.py")) + sorted(root.glob("src/*/__main__.py")):
        return ["python", "-m", main.parent.name]
    for name in PYTHON_FILES:
        if (root / name).is_file():
            return ["python", name]
    return None


def node_entry(root: Path) -> list[str] | None:
    manifest = json.loads((root / "package.json").read_text())
    bin_ = manifest.get("bin")
    if isinstance(bin_, str) and bin_:
        return ["node", bin_]
    if isinstance(bin_, dict) and bin_:
        return ["node", str(next(iter(bin_.values())))]
    if manifest.get("main"):
        return ["node", str(manifest["main"])]
    if (manifest.get("scripts") or {}).get("start"):
        return ["npm", "start", "--silent"]
    if (root / "index.js").is_file():
        return ["node", "index.js"]
    return None


def detect(root: Path) -> list[str]:
    """The argv that starts the project's stdio MCP server.

    Raises:
        SystemExit: the project is neither a Python nor a Node project with a recognisable entry point.
    """
    if (root / "package.json").is_file():
        argv = node_entry(root)
    elif (root / "pyproject.toml").is_file() or (root / "requirements.txt").is_file():
        argv = python_entry(root)
    else:
        argv = None
    if not argv:
        raise SystemExit(
            "cannot tell how to start this MCP server: add a Dockerfile, a [project.scripts] entry "
            "(Python) or a bin/main field (Node)"
        )
    return argv


if __name__ == "__main__":
    print(json.dumps(detect(Path(sys.argv[1] if len(sys.argv) > 1 else "."))))
