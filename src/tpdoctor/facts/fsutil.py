"""Reading files and following symlinks *inside* an inspected root.

A fake root (tests, a mounted image) holds absolute symlinks such as
`/dev/dri/by-path/pci-…-render -> /dev/dri/renderD128`; following them with os.path.realpath
would leave the root, so links are resolved component by component with `/` mapped to the root.
"""

from __future__ import annotations

import os
from pathlib import Path

MAX_LINKS = 40  # the kernel's MAXSYMLINKS


def host_path(root: Path, inroot: str) -> Path:
    return root / inroot.lstrip("/")


def resolve_in_root(root: Path, inroot: str) -> str | None:
    """The in-root absolute path `inroot` leads to, or None on a symlink loop."""
    parts = [p for p in inroot.split("/") if p]
    done: list[str] = []
    hops = 0
    while parts:
        part = parts.pop(0)
        if part == ".":
            continue
        if part == "..":
            if done:
                done.pop()
            continue
        candidate = "/" + "/".join([*done, part])
        hp = host_path(root, candidate)
        if hp.is_symlink():
            hops += 1
            if hops > MAX_LINKS:
                return None
            target = os.readlink(hp)
            if target.startswith("/"):
                done = []
            parts = [p for p in target.split("/") if p] + parts
            continue
        done.append(part)
    return "/" + "/".join(done)


def read_text(root: Path, inroot: str, errors: list[str] | None = None) -> str | None:
    """File text, or None when absent; unreadable files are recorded in `errors`."""
    hp = host_path(root, inroot)
    try:
        return hp.read_text(encoding="utf-8", errors="replace")
    except (FileNotFoundError, NotADirectoryError):
        return None
    except (OSError, ValueError) as exc:
        if errors is not None:
            errors.append(f"{inroot}: {exc.__class__.__name__}: {exc}")
        return None
