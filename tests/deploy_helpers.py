"""Shared helpers for the deploy tests: corpus configs as files, Facts fixtures."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from tpdoctor.model.facts import DeviceNode, Facts, LsmFacts

DATA = Path(__file__).parent / "data"


def corpus_configs(shared: Path) -> list[dict[str, Any]]:
    out = []
    for p in sorted((shared / "corpus" / "configs").glob("*.yaml")):
        d = YAML(typ="safe").load(p.read_text())
        d["_path"] = p
        out.append(d)
    # an empty or missing corpus must fail every test that loops over it, not pass vacuously
    assert len(out) >= 10, f"corpus configs not found (or shrunk) under {shared / 'corpus' / 'configs'}"
    return out


def write_config(cfg: dict[str, Any], tmp: Path) -> Path:
    ext = ".sh" if cfg["kind"] in ("docker-run", "podman-run") else ".yaml"
    p = tmp / f"{cfg['id']}{ext}"
    p.write_text(cfg["content"])
    return p


def two_gpu_facts(render_gid: int = 992, selinux: bool = False) -> Facts:
    nodes = [
        DeviceNode(path="/dev/dri/renderD128", kind="char", major=226, minor=128, mode=0o660, gid=render_gid),
        DeviceNode(path="/dev/dri/renderD129", kind="char", major=226, minor=129, mode=0o660, gid=render_gid),
        DeviceNode(path="/dev/dri/card0", kind="char", major=226, minor=0, gid=44),
        DeviceNode(path="/dev/dri/card1", kind="char", major=226, minor=1, gid=44),
    ]
    for bdf, r in (("0000:03:00.0", 128), ("0000:04:00.0", 129)):
        nodes.append(
            DeviceNode(
                path=f"/dev/dri/by-path/pci-{bdf}-render",
                kind="symlink",
                target=f"../renderD{r}",
                resolved=f"/dev/dri/renderD{r}",
                resolved_exists=True,
            )
        )
    return Facts(
        dev=nodes,
        groups={"render": render_gid, "video": 44},
        lsm=LsmFacts(selinux_enforce=1 if selinux else None),
    )
