"""Exec the stdio MCP server recorded by detect_entry.py (the bridge spawns this as its child)."""

from __future__ import annotations

import json
import os
import sys

if __name__ == "__main__":
    with open(sys.argv[1]) as handle:
        argv = [str(part) for part in json.load(handle)]
    os.execvp(argv[0], argv)
