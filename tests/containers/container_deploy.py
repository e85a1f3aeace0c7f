"""Deployment files tpdoctor *wrote*, started for real: corpus configs after `audit --fix`, and
`generate` output.

For a scenario with a `DeploySource`, on that scenario's fake host:

1. host facts: `tpdoctor check --root <the fake host> --snapshot` of the same GPUs with their
   real numbers (226:128.., mode 0660, gid 105 = render in the host's /etc/group, by-path
   links), so the fix names exact device paths and a numeric group;
2. the deployment file: `tpdoctor audit --write --host-facts` on a copy of the corpus file (the
   corpus is never modified), or `tpdoctor generate --host-facts`;
3. a minimal adaptation to this engine, nothing security-relevant touched: the image and command
   become the skeleton image and `tpdoctor check` (the harness's overlay / SDK arguments),
   host sides of /dev/dri paths become the fake host's, other host directories (models, caches)
   become empty scratch directories, and what needs a network, a registry or a fixed name
   (ports, networks, build, container_name, restart, other services) is dropped. devices,
   group_add, cap_add/cap_drop, security_opt, shm_size, tmpfs, read_only, user, ipc, pid,
   privileged and the environment stay as written; a `docker run` flag this module does not know
   fails the scenario rather than being dropped.

`docker run` scripts are run by bash itself (with `docker`/`podman`/`sudo` as shell functions
that record their argv), so exports, quoting and continuations are the shell's, not our parser's.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from ruamel.yaml import YAML

from .container_harness import FakeHost, intel_gpus, run_tool

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
CORPUS_CONFIGS = SHARED / "corpus" / "configs"


@dataclass(frozen=True)
class DeploySource:
    """Where a scenario's deployment file comes from."""

    tool: Literal["audit-fix", "generate"]
    target: Literal["compose", "docker-run"]
    tp: int  # `check --tp` inside: the TP size the config asks for
    corpus_id: str | None = None  # audit-fix: ../shared/corpus/configs/<id>.yaml
    generate_args: tuple[str, ...] = ()

    @property
    def how(self) -> str:
        kind = "compose" if self.target == "compose" else "docker run (SDK)"
        return f"{kind}, {'`audit --fix`' if self.tool == 'audit-fix' else '`generate`'}"


@dataclass
class Materialized:
    """The file tpdoctor wrote, and what this engine runs of it."""

    written: str  # the fixed / generated file, as tpdoctor wrote it
    compose: dict[str, Any] | None = None
    docker_run: dict[str, Any] | None = None  # Docker SDK containers.run() keyword arguments
    services: tuple[str, ...] = ("app",)
    adapted: tuple[str, ...] = ()  # what the adaptation changed, for the record


class AdaptError(RuntimeError):
    """The file cannot be run here without changing something security-relevant."""


# ----------------------------------------------------------------------------- steps 1 and 2


def host_facts(host: FakeHost, base: Path) -> Path:
    """`check --root` snapshot of `host`'s GPUs as the kernel numbers them (226:<minor>)."""
    real = FakeHost(base / "host-facts-root", intel_gpus(len(host.gpus)), host.render_gid, driver=False)
    real.build()
    etc = real.root / "etc"
    etc.mkdir()
    (etc / "group").write_text(f"root:x:0:\nvideo:x:44:\nrender:x:{host.render_gid}:\n")
    snap = base / "host-facts.json"
    proc = run_tool("check", "--root", str(real.root), "--snapshot", str(snap), "--format", "json")
    if not snap.exists():
        raise RuntimeError(f"check --root --snapshot rc={proc.returncode}: {proc.stderr[-800:]}")
    return snap


def corpus_config(config_id: str) -> dict[str, Any]:
    path = CORPUS_CONFIGS / f"{config_id}.yaml"
    cfg: dict[str, Any] = YAML(typ="safe").load(path.read_text())
    return cfg


def written_file(src: DeploySource, facts: Path, base: Path) -> str:
    if src.tool == "generate":
        out = base / ("generated.yaml" if src.target == "compose" else "generated.sh")
        args = ["generate", *src.generate_args, "--target", src.target, "--host-facts", str(facts)]
        proc = run_tool(*args, "-o", str(out))
        if proc.returncode != 0 or not out.exists():
            raise RuntimeError(f"generate rc={proc.returncode}: {proc.stderr[-800:]}")
        return out.read_text()
    assert src.corpus_id is not None
    cfg = corpus_config(src.corpus_id)
    copy = base / (f"{cfg['id']}.yaml" if cfg["kind"] == "compose" else f"{cfg['id']}.sh")
    copy.write_text(cfg["content"])
    proc = run_tool("audit", "--write", "--host-facts", str(facts), str(copy))
    if proc.returncode not in (0, 4) or "tpdoctor: wrote" not in proc.stderr:
        # 0/4: nothing above notice / only degraded left; a blocker after the fix is a fix bug
        raise RuntimeError(f"audit --write rc={proc.returncode}: {proc.stderr[-1500:]}")
    return copy.read_text()


def materialize(src: DeploySource, host: FakeHost, base: Path) -> Materialized:
    facts = host_facts(host, base)
    text = written_file(src, facts, base)
    scratch = base / "scratch"
    if src.target == "compose":
        compose, services, notes = adapt_compose(text, host, scratch)
        return Materialized(text, compose=compose, services=services, adapted=tuple(notes))
    argv = docker_run_argv(text, base)
    kwargs, notes = sdk_kwargs(argv, host, scratch)
    return Materialized(text, docker_run=kwargs, adapted=tuple(notes))


# ----------------------------------------------------------------------------- host paths


def host_side(path: str, host: FakeHost, scratch: Path) -> str:
    """The fake host's path for a host path of the file; named volumes stay as they are."""
    if path == "/dev/dri" or path.startswith("/dev/dri/"):
        return str(host.dri / path.removeprefix("/dev/dri").lstrip("/"))
    if path.startswith("/dev"):
        raise AdaptError(f"host device {path}: the fake host has only /dev/dri")
    if path.startswith(("/", "~", ".", "$")):
        d = scratch / (re.sub(r"[^A-Za-z0-9._-]+", "_", path.strip("/~.$")) or "root")
        d.mkdir(parents=True, exist_ok=True)
        return str(d)
    return path  # a named volume


def _map_device(spec: str, host: FakeHost, scratch: Path) -> str:
    parts = spec.split(":")
    hostp, rest = parts[0], parts[1:]
    if not rest or rest[0] in ("r", "w", "m", "rw", "rwm", "rm", "wm"):
        rest = [hostp, *rest]  # `/dev/dri/renderD128` is `/dev/dri/renderD128:/dev/dri/renderD128`
    return ":".join([host_side(hostp, host, scratch), *rest])


def _map_volume(spec: Any, host: FakeHost, scratch: Path) -> Any:
    if isinstance(spec, dict):
        spec = dict(spec)
        if spec.get("type", "volume") == "bind" and "source" in spec:
            spec["source"] = host_side(str(spec["source"]), host, scratch)
        return spec
    parts = str(spec).split(":")
    if len(parts) == 1:
        return spec  # anonymous volume
    return ":".join([host_side(parts[0], host, scratch), *parts[1:]])


# ----------------------------------------------------------------------------- compose

COMPOSE_DROPPED = (
    "build",  # no registry, no build: the skeleton image replaces it
    "image",
    "command",
    "entrypoint",
    "container_name",  # fixed names collide between parallel runs
    "restart",  # `up` would never return
    "ports",
    "expose",
    "networks",
    "network_mode",  # the harness sets none
    "extra_hosts",
    "depends_on",
    "healthcheck",
)


def _is_gpu_service(svc: dict[str, Any]) -> bool:
    devs = [str(d).split(":")[0] for d in svc.get("devices") or []]
    # /dev/dri bind-mounted as a volume is a GPU service too (the device cgroup then says EPERM)
    vols = [str(v).split(":")[0] for v in svc.get("volumes") or [] if not isinstance(v, dict)]
    return svc.get("privileged") is True or any(d.startswith("/dev/dri") for d in devs + vols)


def adapt_compose(
    text: str, host: FakeHost, scratch: Path
) -> tuple[dict[str, Any], tuple[str, ...], list[str]]:
    doc = YAML(typ="safe").load(text)
    notes: list[str] = []
    services: dict[str, Any] = {}
    for name, svc in (doc.get("services") or {}).items():
        if not _is_gpu_service(svc):
            notes.append(f"service {name} (no GPU) dropped")
            continue
        svc = dict(svc)
        gone = [k for k in COMPOSE_DROPPED if svc.pop(k, None) is not None]
        notes.append(f"{name}: dropped {', '.join(gone)}" if gone else f"{name}: nothing dropped")
        if "devices" in svc:
            svc["devices"] = [_map_device(str(d), host, scratch) for d in svc["devices"]]
        if "volumes" in svc:
            svc["volumes"] = [_map_volume(v, host, scratch) for v in svc["volumes"]]
        services[name] = svc
    if not services:
        raise AdaptError("no GPU service in the file")
    doc["services"] = services
    doc.pop("networks", None)
    doc.pop("version", None)  # docker-compose 1.29 reads the Compose spec without it
    return doc, tuple(services), notes


# ----------------------------------------------------------------------------- docker run

_RECORDER = r"""
docker() { "$TPD_PY" -c 'import json, sys; print(json.dumps(sys.argv[1:]))' "$@" >>"$TPD_ARGV"; }
podman() { docker "$@"; }
sudo() { "$@"; }
"""


def docker_run_argv(script: str, base: Path) -> list[str]:
    """What bash really passes to `docker run` when it runs the script (prompts `$ ` removed,
    as a user pasting it does)."""
    path = base / "run-script.sh"
    path.write_text(re.sub(r"(?m)^[ \t]*\$[ \t]+", "", script))
    log = base / "argv.jsonl"
    env = {"PATH": "/usr/bin:/bin", "TPD_PY": sys.executable, "TPD_ARGV": str(log), "HOME": str(base)}
    subprocess.run(
        ["bash", "--noprofile", "--norc", "-c", _RECORDER + f'. "{path}"'],
        capture_output=True,
        text=True,
        env=env,
        cwd=base,
        timeout=30,
    )
    calls = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    runs = [c for c in calls if c[:1] == ["run"]]
    if len(runs) != 1:
        raise AdaptError(f"expected one `docker run` when bash runs the script, got {calls!r}")
    argv: list[str] = runs[0][1:]
    return argv


# flags kept as the SDK argument they are; (name, SDK keyword, kind)
_KEEP: dict[str, tuple[str, str]] = {
    "--device": ("devices", "list"),
    "-v": ("volumes", "list"),
    "--volume": ("volumes", "list"),
    "--group-add": ("group_add", "list"),
    "--cap-add": ("cap_add", "list"),
    "--cap-drop": ("cap_drop", "list"),
    "--security-opt": ("security_opt", "list"),
    "--shm-size": ("shm_size", "one"),
    "--tmpfs": ("tmpfs", "tmpfs"),
    "-u": ("user", "one"),
    "--user": ("user", "one"),
    "-e": ("environment", "env"),
    "--env": ("environment", "env"),
    "-m": ("mem_limit", "one"),
    "--memory": ("mem_limit", "one"),
    "--ipc": ("ipc_mode", "one"),
    "--pid": ("pid_mode", "one"),
    "--userns": ("userns_mode", "one"),
    "--ulimit": ("ulimits", "ulimit"),
    "--read-only": ("read_only", "bool"),
    "--privileged": ("privileged", "bool"),
}
# dropped: the harness names, networks and runs the container itself
_DROP_VALUE = {"--name", "--net", "--network", "-p", "--publish", "--entrypoint", "--hostname", "-h"}
_DROP_BOOL = {"--rm", "-i", "-t", "-d", "--interactive", "--tty", "--detach"}


def sdk_kwargs(argv: list[str], host: FakeHost, scratch: Path) -> tuple[dict[str, Any], list[str]]:
    """`docker run` flags -> Docker SDK keyword arguments; the image and its arguments end it."""
    kw: dict[str, Any] = {}
    dropped: list[str] = []
    i = 0
    while i < len(argv):
        a = argv[i]
        if not a.startswith("-"):
            break  # the image: it and the command are replaced by the harness
        name, eq, inline = a.partition("=")
        if re.fullmatch(r"-[a-z]{2,}", a) and set(a[1:]) <= {"i", "t", "d"}:
            dropped.append(a)  # -itd
            i += 1
            continue
        if name in _DROP_BOOL:
            dropped.append(a)
            i += 1
            continue
        if name in _DROP_VALUE:
            value = inline if eq else argv[i + 1]
            dropped.append(f"{name} {value}")
            i += 1 if eq else 2
            continue
        if name not in _KEEP:
            raise AdaptError(f"docker run flag {a!r} is not known to the adaptation; it would be lost")
        key, kind = _KEEP[name]
        if kind == "bool":
            kw[key] = True
            i += 1
            continue
        value = inline if eq else argv[i + 1]
        i += 1 if eq else 2
        if kind == "list":
            if key == "devices":
                value = _map_device(value, host, scratch)
            elif key == "volumes":
                value = _map_volume(value, host, scratch)
            kw.setdefault(key, []).append(value)
        elif kind == "one":
            kw[key] = value
        elif kind == "tmpfs":
            path, _, opts = value.partition(":")
            kw.setdefault("tmpfs", {})[path] = opts
        elif kind == "env":
            k, has, v = value.partition("=")
            if has:
                kw.setdefault("environment", {})[k] = v
            elif k in os.environ:  # `-e NAME` passes the caller's value only when it is set
                kw.setdefault("environment", {})[k] = os.environ[k]
        elif kind == "ulimit":
            from docker.types import Ulimit

            n, _, lim = value.partition("=")
            soft, _, hard = lim.partition(":")
            kw.setdefault("ulimits", []).append(Ulimit(name=n, soft=int(soft), hard=int(hard or soft)))
    else:
        raise AdaptError("no image in the docker run command")
    notes = [f"dropped {' '.join(dropped)}" if dropped else "nothing dropped"]
    return kw, notes
