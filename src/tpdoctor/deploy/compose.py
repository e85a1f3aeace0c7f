"""Compose front-end (v1 files, the 2.x/3.x formats and the current Compose spec) and patcher.

The document is loaded with ruamel's round-trip loader so that `audit --fix` can change only
the keys the findings' edits touch and keep the user's comments, key order and quoting.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from tpdoctor.deploy.exceptions import allows_in_lines
from tpdoctor.deploy.frontend import unsupported
from tpdoctor.deploy.io import dump_yaml_docs, load_yaml_docs
from tpdoctor.deploy.model import (
    DeploymentModel,
    DeviceMap,
    GpuRequest,
    MountSpec,
    SecurityOpts,
    Service,
    normalize_cap,
    tmpfs_mount,
)
from tpdoctor.deploy.yamledit import (
    Rehome,
    _key_col,
    append_item,
    delete_item,
    delete_key,
    give_after,
    hold_tail_comments,
    inherited,
    insert_keeping_comments,
    insert_near,
    last_own_key,
    merged_has,
    quoted,
    split_tail,
    unanchored_copy,
    unshare,
)
from tpdoctor.errors import InputError, NotDeploymentError
from tpdoctor.limits import MAX_GPUS, cap_count, cap_services, parse_count
from tpdoctor.model import driver_caps
from tpdoctor.model.edits import (
    AddCapability,
    AddItem,
    CountGpuReservation,
    DefaultSeccomp,
    DropAllCapabilities,
    Edit,
    NoNewPrivileges,
    Reindent,
    RemoveCapability,
    RemoveItem,
    RepairContinuation,
    ReplaceItem,
    ReserveGpus,
    SetEntrypoint,
    SetEnv,
    SetShmSize,
    Unset,
)
from tpdoctor.units import parse_size, parse_small_signed_int

_V1_HINT_KEYS = {"image", "build", "command", "devices", "volumes", "environment"}


class ComposeDoc:
    """A loaded compose file: the round-trip tree, its text, and the services map."""

    def same(self, item: Any, value: str) -> bool:
        """An item as written, or as Compose interpolates it, equals the plan's value."""
        from tpdoctor.deploy.interpolate import interpolate

        raw = str(item)
        return raw == value or ("$" in raw and interpolate(raw, self.env) == value)

    def __init__(
        self, text: str, source: str, recovered: list[str] | None = None, docs: list[Any] | None = None
    ) -> None:
        self.text = text
        self.source = source
        self.recovered = recovered or []
        self.env: dict[str, str] = {}  # the `.env` beside the file: what its ${VAR}s interpolate to
        docs = load_yaml_docs(text, source) if docs is None else docs
        if len(docs) != 1 or not isinstance(docs[0], CommentedMap):
            raise InputError(f"{source}: a compose file is one YAML mapping")
        self.root: CommentedMap = docs[0]
        svcs = self.root.get("services")
        if isinstance(svcs, CommentedMap):
            self.services: CommentedMap = svcs
            self.v1 = False
        elif (
            "services" not in self.root
            and self.root
            and all(isinstance(v, dict) and _V1_HINT_KEYS & set(v) for v in self.root.values())
        ):
            self.services = self.root  # Compose file format v1: services at the top level
            self.v1 = True
        else:
            raise NotDeploymentError(f"{source}: no services: mapping found (is this a compose file?)")


def recover_indentation(text: str, source: str) -> tuple[str, list[str], list[Any]]:
    """Load as is; on the classic 'key indented one column too far' error, re-indent that block.

    Returns the text to analyse, a description of what was re-indented (empty if nothing), and
    the loaded documents (so the file is parsed once).
    Anything else stays an InputError: we do not guess at broken YAML beyond this one case.
    """
    try:
        return text, [], load_yaml_docs(text, source)
    except InputError as first:
        lines = text.splitlines(keepends=True)
        m = re.search(r"line (\d+), column (\d+)", str(first))
        if not m or "block" not in str(first):
            raise
        bad = int(m.group(1)) - 1
        col = int(m.group(2)) - 1
        # siblings: the nearest earlier key line with smaller indentation than col
        prev = [
            len(ln) - len(ln.lstrip(" "))
            for ln in lines[:bad]
            if ln.strip() and not ln.lstrip().startswith(("#", "-"))
        ]
        candidates = [p for p in prev if p < col]
        if not candidates:
            raise
        want = max(candidates)
        shift = col - want
        out = list(lines)
        i = bad
        while i < len(out):
            ln = out[i]
            ind = len(ln) - len(ln.lstrip(" "))
            if i > bad and ln.strip() and ind <= col - 1 and ind < col:
                break
            if ln.strip() and ind >= shift:
                out[i] = ln[shift:]
            i += 1
        fixed = "".join(out)
        try:
            docs = load_yaml_docs(fixed, source)
        except InputError:
            raise first from None
        return fixed, docs_note(bad, lines, col, want), docs


def docs_note(bad: int, lines: list[str], col: int, want: int) -> list[str]:
    return [
        f"line {bad + 1}: '{lines[bad].strip()}' is indented {col} columns where its siblings use "
        f"{want}; YAML rejects the file (analysed as if re-indented)"
    ]


def _s(v: Any) -> str:
    return "" if v is None else str(v)


def _pids_limit(svc: dict[str, Any]) -> int | None:
    """pids_limit, else deploy.resources.limits.pids (Compose spec): an integer, -1 or 0 for none."""
    value = svc.get("pids_limit")
    if value is None:
        deploy = svc.get("deploy")
        res = deploy.get("resources") if isinstance(deploy, dict) else None
        lim = res.get("limits") if isinstance(res, dict) else None
        value = lim.get("pids") if isinstance(lim, dict) else None
    return None if value is None else parse_small_signed_int(value)


def _cmd(v: Any) -> list[str]:
    if v is None:
        return []
    if isinstance(v, list):
        return [_s(x) for x in v]
    try:
        return shlex.split(str(v))
    except ValueError:
        return str(v).split()


def _env(v: Any) -> dict[str, str]:
    out: dict[str, str] = {}
    if isinstance(v, dict):
        for k, val in v.items():
            out[str(k)] = _s(val)
    elif isinstance(v, list):
        for item in v:
            k, _, val = str(item).partition("=")
            out[k] = val
    return out


def parse_device(item: Any) -> DeviceMap:
    if isinstance(item, dict):
        src = _s(item.get("source"))
        return DeviceMap(
            host=src,
            container=_s(item.get("target")) or src,
            permissions=_s(item.get("permissions")) or "rwm",
            raw=str(dict(item)),
        )
    raw = str(item)
    if "=" in raw and not raw.startswith("/"):  # CDI: vendor.com/class=name
        return DeviceMap(host=raw, container=raw, raw=raw)
    parts = raw.split(":")
    host = parts[0]
    cont = parts[1] if len(parts) > 1 and parts[1].startswith("/") else host
    perms = parts[-1] if len(parts) > 1 and not parts[-1].startswith("/") else "rwm"
    return DeviceMap(host=host, container=cont, permissions=perms, raw=raw)


def _compose_true(value: Any) -> bool:
    """A compose boolean: YAML's true, or a string compose-go's interpolation casts to true (`"true"`, `"yes"`, `"on"`,
    `"y"`, any case). A long-syntax volume's `read_only: "false"` counted as read-only (bool() of the string), and a
    by-path mount so written was not made read-only (gsafe53)."""
    if isinstance(value, bool):
        return value
    return isinstance(value, str) and value.strip().lower() in ("true", "yes", "on", "y")


def parse_volume(item: Any) -> MountSpec:
    if isinstance(item, dict):
        kind = _s(item.get("type")) or "volume"
        return MountSpec(
            kind=kind if kind in ("bind", "volume", "tmpfs") else "other",  # type: ignore[arg-type]
            source=_s(item.get("source")),
            target=_s(item.get("target")),
            read_only=_compose_true(item.get("read_only", False)),
            raw=str(dict(item)),
        )
    raw = str(item)
    parts = raw.split(":")
    if len(parts) == 1:
        return MountSpec(kind="volume", target=parts[0], raw=raw)
    opts = parts[2].split(",") if len(parts) > 2 else []
    src = parts[0]
    kind = "bind" if src.startswith(("/", ".", "~", "$")) else "volume"
    return MountSpec(kind=kind, source=src, target=parts[1], read_only="ro" in opts, raw=raw)  # type: ignore[arg-type]


def parse_security_opt(opts: list[str], sec: SecurityOpts) -> None:
    for o in opts:
        m = re.match(r"\s*([^=:]+)[=:]?(.*)", o)
        if not m:
            continue
        key, val = m.group(1).strip(), m.group(2).strip()
        if key == "seccomp":
            sec.seccomp = val
        elif key == "apparmor":
            sec.apparmor = val
        elif key == "label":
            sec.label.append(val)
        elif key == "no-new-privileges":
            sec.no_new_privileges = val in ("", "true", "1")


def _reserved_devices(svc: dict[str, Any]) -> list[Any]:
    """The entries of `deploy.resources.reservations.devices`, [] when the path is missing or not a list."""
    try:
        devs = svc["deploy"]["resources"]["reservations"]["devices"]
    except (KeyError, TypeError):
        return []
    return devs if isinstance(devs, list) else []


def _gpu_reservations(svc: dict[str, Any]) -> list[GpuRequest]:
    out: list[GpuRequest] = []
    for d in _reserved_devices(svc):
        if not isinstance(d, dict):
            continue
        caps = [str(c) for c in d.get("capabilities") or []]
        driver = _s(d.get("driver"))
        if "gpu" not in caps and driver not in ("nvidia", "amd", "intel", "cdi"):
            continue
        count = d.get("count")
        ids = [str(x) for x in d.get("device_ids") or []]
        n = len(ids) if ids else (None if count in (None, "all") else parse_count(count, "GPU count:"))
        if len(ids) > MAX_GPUS:
            cap_count(len(ids), "device_ids:")
        vendor = driver if driver in ("nvidia", "intel", "amd") else "unknown"
        caps_env = driver_caps.from_request(caps) if vendor in ("nvidia", "unknown") else None
        if vendor == "unknown" and caps_env is not None:
            vendor = "nvidia"  # only the daemon's NVIDIA driver registers these capabilities (moby nvidia_linux.go)
        out.append(
            GpuRequest(via="compose-deploy", vendor=vendor, count=n, ids=ids, raw=str(dict(d)), driver_caps=caps_env)  # type: ignore[arg-type]
        )
    g = svc.get("gpus")
    if g is not None:
        if g == "all":
            out.append(GpuRequest(via="compose-deploy", vendor="nvidia", count=None, raw="gpus: all"))
        elif isinstance(g, list):
            for d in g:
                ids = [str(x) for x in (d.get("device_ids") or [])] if isinstance(d, dict) else []
                out.append(GpuRequest(via="compose-deploy", vendor="nvidia", count=len(ids) or None, ids=ids))
    return out


def _incomplete_reservations(svc: dict[str, Any]) -> list[Any]:
    """The NVIDIA GPU reservations of a service that give neither `count` nor `device_ids`."""
    found = []
    for d in _reserved_devices(svc):
        if not isinstance(d, dict) or "count" in d or d.get("device_ids"):
            continue
        caps = [str(c) for c in d.get("capabilities") or []]
        if _s(d.get("driver")) == "nvidia" or (not d.get("driver") and "gpu" in caps):
            found.append(d)
    return found


def _count_incomplete_reservation(svc: CommentedMap) -> None:
    """`count: all` into each incomplete reservation, after its driver (or first) so the entry reads as
    compose's docs write it; only that line is added (what Engine < 27.3 gave: every GPU)."""
    for d in _incomplete_reservations(svc):  # CommentedMaps: the service is a round-trip tree
        d.insert(list(d).index("driver") + 1 if "driver" in d else 0, "count", "all")


def _gpu_reservation_incomplete(svc: dict[str, Any]) -> str:
    """The first NVIDIA GPU reservation that gives neither `count` nor `device_ids` (gnew22): Docker
    Engine >= 27.3 reads it as Count 0 and sets NVIDIA_VISIBLE_DEVICES=void (moby daemon/nvidia_linux.go
    setNvidiaGPUs `case req.Count == 0`, moby#48482 / #48483); before, the image's NVIDIA_VISIBLE_DEVICES=all gave every GPU."""
    first = next(iter(_incomplete_reservations(svc)), None)
    return "" if first is None else ", ".join(f"{k}: {v}" for k, v in first.items())


# a comment naming podman-compose: the word anywhere after the line's first `#`. `#.*\bpodman-compose\b` went back
# over the rest of the line from every `#`: a 16 KiB comment of `#` took 16 s, 64 KiB minutes (gsafe47)
_PODMAN_COMPOSE_WORD = re.compile(r"\bpodman-compose\b", re.IGNORECASE)


def compose_impl_hint(doc: ComposeDoc, lines: list[str]) -> tuple[str | None, str, int | None]:
    """What the file itself says about the implementation that runs it.

    Only explicit signals: an `x-podman` extension (top level, or `x-podman.*` keys in a
    service), which only podman-compose reads, or a comment naming `podman-compose` (e.g. "run
    with podman-compose up"). `podman compose` (with a space) is not a signal: it delegates to
    docker-compose when that is installed. Nothing identifies docker-compose v1 from the file.
    """
    for key in doc.root:
        if str(key) == "x-podman" or str(key).startswith("x-podman."):
            line = doc.root.lc.key(key)[0] + 1
            return "podman-compose", f"top-level `{key}:` (read only by podman-compose)", line
    for name, svc in doc.services.items():
        if isinstance(svc, dict):
            for key in svc:
                if str(key).startswith("x-podman"):
                    line = svc.lc.key(key)[0] + 1 if hasattr(svc, "lc") else None
                    return "podman-compose", f"service {name}: `{key}:` (read only by podman-compose)", line
    if _PODMAN_COMPOSE_WORD.search(doc.text) is None:  # one pass over the text, not a loop over its lines
        return None, "", None
    for i, ln in enumerate(lines):
        hash_at = ln.find("#")
        if hash_at >= 0 and _PODMAN_COMPOSE_WORD.search(ln, hash_at + 1):
            return "podman-compose", f"comment: {ln.strip()[:120]}", i + 1
    return None, "", None


def _podman_compose_skips(svc: dict[str, Any]) -> list[str]:
    """Reservation entries podman-compose drops: it turns only `driver: nvidia` entries with
    `capabilities: [gpu]` into `--device nvidia.com/gpu=...` (podman_compose.py
    container_to_gpu_res_args, v1.2.0-v1.6.0) and silently skips every other entry."""
    try:
        devs = svc["deploy"]["resources"]["reservations"]["devices"]
    except (KeyError, TypeError):
        return []
    out = []
    for d in devs or []:
        if not isinstance(d, dict):
            continue
        caps = [str(c) for c in d.get("capabilities") or []]
        if d.get("driver") != "nvidia" or "gpu" not in caps:
            out.append(str(dict(d)))
    return out


def service_lines(doc: ComposeDoc) -> dict[str, tuple[int, int]]:
    """1-based [first, last] line of each service's block, for allow comments and evidence."""
    names = list(doc.services.keys())
    starts = [doc.services.lc.key(n)[0] + 1 for n in names]
    total = len(doc.text.splitlines())
    out: dict[str, tuple[int, int]] = {}
    for i, n in enumerate(names):
        end = starts[i + 1] - 1 if i + 1 < len(starts) else total
        out[str(n)] = (starts[i], end)
    return out


def interpolated(node: Any, env: dict[str, str]) -> Any:
    """A copy of a service with Compose interpolation applied to every string (the file's `.env`
    and inline defaults; an unknown variable stays as written). Mappings keep their line
    positions, so evidence still points at the file. The round-trip tree itself is not changed:
    `--fix` writes the user's `${VAR}` back."""
    from ruamel.yaml.comments import LineCol

    from tpdoctor.deploy.interpolate import interpolate

    if isinstance(node, str):
        return interpolate(node, env) if "$" in node else node
    if isinstance(node, dict):
        out = CommentedMap((k, interpolated(v, env)) for k, v in node.items())
        if hasattr(node, LineCol.attrib):
            setattr(out, LineCol.attrib, getattr(node, LineCol.attrib))
        return out
    if isinstance(node, list):
        return [interpolated(v, env) for v in node]
    return node


def _has_default(node: Any) -> bool:
    """Whether a service uses ${VAR:-default} / ${VAR-default} anywhere (cheap text test)."""
    if isinstance(node, str):
        return "${" in node and "-" in node
    if isinstance(node, dict):
        return any(_has_default(v) for v in node.values())
    if isinstance(node, list):
        return any(_has_default(v) for v in node)
    return False


def _items(svc: dict[str, Any], key: str) -> list[Any]:
    """A compose list key's items. A mapping or a scalar where the spec wants a list is a TypeError
    (audit's one-line "unexpected compose structure"), not a list of its keys or characters."""
    value = svc.get(key)
    if value is None or value == "":
        return []
    if not isinstance(value, list):
        raise TypeError(
            f"{key} must be a list, not a {'mapping' if isinstance(value, dict) else type(value).__name__}"
        )
    return value


def parse_compose(text: str, source: str, read_env: bool = True) -> tuple[DeploymentModel, ComposeDoc]:
    """`read_env=False`: the text is not a file in a project (a snippet quoted in a log): no `.env` is read."""
    analysed, recovered, docs = recover_indentation(text, source)
    doc = ComposeDoc(analysed, source, recovered, docs)
    lines = analysed.splitlines()
    spans = service_lines(doc)
    model = DeploymentModel(source=source, format="compose", notes=list(recovered))
    from pathlib import Path

    from tpdoctor.deploy.interpolate import read_dotenv

    # compose reads the project directory's .env
    dotenv = read_dotenv(Path(source).parent / ".env") if read_env else {}
    doc.env = dotenv
    impl, impl_ev, impl_line = compose_impl_hint(doc, lines)
    if impl is not None:
        model.compose_impl = impl  # type: ignore[assignment]
        model.compose_impl_evidence, model.compose_impl_line = impl_ev, impl_line
    cap_services(len(doc.services), "services", source)
    for name, raw in doc.services.items():
        if not isinstance(raw, dict):
            continue
        svc = interpolated(raw, dotenv) if dotenv or _has_default(raw) else raw
        sec = SecurityOpts()
        parse_security_opt([str(o) for o in _items(svc, "security_opt")], sec)
        mounts = [parse_volume(v) for v in _items(svc, "volumes")]
        tmpfs = svc.get("tmpfs") or []
        mounts += [tmpfs_mount(str(t)) for t in ([tmpfs] if isinstance(tmpfs, str) else tmpfs)]
        ul: dict[str, str] = {}
        for k, v in (svc.get("ulimits") or {}).items():
            ul[str(k)] = _s(v.get("soft")) if isinstance(v, dict) else _s(v)
        first, last = spans[str(name)]
        allows, problems = allows_in_lines(lines[first - 1 : last])
        s = Service(
            name=str(name),
            format="compose",
            variables=dotenv,
            image=_s(svc.get("image")) or None,
            entrypoint=_cmd(svc.get("entrypoint")),
            command=_cmd(svc.get("command")),
            devices=[parse_device(d) for d in _items(svc, "devices")],
            device_cgroup_rules=[str(r) for r in _items(svc, "device_cgroup_rules")],
            mounts=mounts,
            group_add=[str(g) for g in _items(svc, "group_add")],
            user=_s(svc.get("user")) or None,
            cap_add=[str(c) for c in _items(svc, "cap_add")],
            cap_drop=[str(c) for c in _items(svc, "cap_drop")],
            privileged=_compose_true(svc.get("privileged")),
            security=sec,
            shm_size=parse_size(svc["shm_size"]) if "shm_size" in svc else None,
            shm_size_raw=_s(svc.get("shm_size")) or None,
            ipc=_s(svc.get("ipc")) or None,
            pid=_s(svc.get("pid")) or None,
            network=_s(svc.get("network_mode")) or None,
            uts=_s(svc.get("uts")) or None,
            userns=_s(svc.get("userns_mode")) or None,
            ulimits=ul,
            pids_limit=_pids_limit(svc),
            read_only=_compose_true(svc.get("read_only")),
            env=_env(svc.get("environment")),
            gpus=_gpu_reservations(svc),
            runtime=_s(svc.get("runtime")) or None,
            line=first,
            allows=allows,
            notes=problems,
        )
        if s.runtime == "nvidia":
            s.gpus.append(GpuRequest(via="runtime", vendor="nvidia", raw="runtime: nvidia"))
        # keys that some compose implementations ignore or reject (rules/deploy_compose.py)
        if "gpus" in svc:
            s.extra["compose_gpus_key"] = f"gpus: {svc['gpus']}"
        long_devs = [str(dict(d)) for d in _items(svc, "devices") if isinstance(d, dict)]
        if long_devs:
            s.extra["compose_long_devices"] = "; ".join(long_devs)
        skips = _podman_compose_skips(svc)
        if skips:
            s.extra["podman_compose_gpu_skips"] = "; ".join(skips)
        incomplete = _gpu_reservation_incomplete(svc)
        if incomplete:
            s.extra["compose_gpu_reservation_incomplete"] = incomplete
        if "ipc" in svc:
            s.extra["compose_ipc_line"] = str(svc.lc.key("ipc")[0] + 1) if hasattr(svc, "lc") else ""
        if isinstance(svc.get("build"), dict) and "shm_size" in svc["build"] and "shm_size" not in svc:
            s.extra["shm_size_on_build"] = _s(svc["build"]["shm_size"])
        model.services.append(s)
    return model, doc


# --- writing edits back ------------------------------------------------------------------------

_KEY = {
    "devices": "devices",
    "volumes": "volumes",
    "tmpfs": "tmpfs",
    "group_add": "group_add",
    "cap_add": "cap_add",
    "cap_drop": "cap_drop",
    "security_opt": "security_opt",
    "privileged": "privileged",
    "shm_size": "shm_size",
    "ipc": "ipc",
    "pid": "pid",
    "env": "environment",
    "entrypoint": "entrypoint",
}

# Where new keys go (yamledit.insert_near): after the closest key that precedes them in this
# order, so fixed files read naturally (image, devices, volumes, group_add ... near each other).
ORDER = (
    "image",
    "build",
    "container_name",
    "privileged",
    "devices",
    "volumes",
    "tmpfs",
    "group_add",
    "cap_drop",
    "cap_add",
    "security_opt",
    "shm_size",
    "ipc",
    "environment",
)

Op = tuple[str, ...]


def spell(service: Service, edit: Edit) -> list[Op] | None:
    """A typed edit as operations on compose keys, which docker/podman run spell as flags
    (dockerrun.py); None: the edit has no spelling in these formats."""
    if isinstance(edit, Unset):
        return [("unset", edit.key)]
    if isinstance(edit, SetShmSize):
        return [("set", "shm_size", edit.size)]
    if isinstance(edit, AddItem):
        return [("list_add", edit.key, edit.item)]
    if isinstance(edit, RemoveItem):
        return [("list_remove", edit.key, edit.item)]
    if isinstance(edit, ReplaceItem):
        return [("list_replace", edit.key, edit.old, edit.new)]
    if isinstance(edit, AddCapability):
        return [("list_add", "cap_add", edit.cap)]
    if isinstance(edit, RemoveCapability):  # as spelled: sys_admin, CAP_SYS_ADMIN
        return [("list_remove", "cap_add", c) for c in service.cap_add if normalize_cap(c) == edit.cap]
    if isinstance(edit, DropAllCapabilities):
        return [("list_add", "cap_drop", "ALL")]
    if isinstance(edit, NoNewPrivileges):
        return [("list_add", "security_opt", "no-new-privileges:true")]
    if isinstance(edit, DefaultSeccomp):
        return [("list_remove", "security_opt", f"seccomp{sep}unconfined") for sep in "=:"]
    if isinstance(edit, ReserveGpus):
        return [("gpu_reservation", edit.vendor, edit.count)]
    if isinstance(edit, CountGpuReservation):
        return [("gpu_reservation_count",)]
    if isinstance(edit, SetEnv):
        return [("list_add", "env", f"{edit.name}={edit.value}")]
    if isinstance(edit, SetEntrypoint):
        return [("set_argv", "entrypoint", *edit.argv)]
    if isinstance(edit, (Reindent, RepairContinuation)):
        return []  # the re-indented tree is what dump writes; no continuation in YAML
    return None


def _own_seq(svc: CommentedMap, key: str, seq: Any) -> Any:
    """The service's own copy of a list it shares through a YAML alias (`tmpfs: *tmp`), so an edit for this service
    leaves the anchor, and every other service that aliases it, as written."""
    anchor = getattr(seq, "anchor", None)
    if isinstance(seq, CommentedSeq) and anchor is not None and anchor.value is not None:
        seq = CommentedSeq(list(seq))
        svc[key] = seq
    return seq


def _own(m: CommentedMap, key: str, order: Sequence[str] = ()) -> Any:
    """m[key], copied into m first when it comes from a merge key (placed by `order`) or is shared through an anchor
    (`environment: *env`), so an edit changes m alone (yamledit.unshare)."""
    if inherited(m, key):
        value = unanchored_copy(m.get(key))
        hold_tail_comments(value)  # the blank line and comments after the anchor's block stay with the anchor
        insert_near(m, key, value, order)
        return value
    return unshare(m, key)


def _set_own(svc: CommentedMap, key: str, value: Any) -> None:
    """svc[key] = value as the service's own entry, where an inherited one would sit by ORDER."""
    if key in svc and not inherited(svc, key):
        svc[key] = value
    else:
        insert_near(svc, key, value, ORDER)


def apply_ops(doc: ComposeDoc, service: str, ops: list[tuple[str, ...]]) -> list[str]:
    """Apply format-neutral plan operations to one service of the round-trip tree; returns what was left as written
    (an item that comes from a variable, a key of a shape that cannot hold the change).

    The comment lines and blank lines after the service's last entry are held while keys are added at its end, then
    given back in their place (gwild52: ROCm-docker's compose, `volumes_from` ending in a commented-out item
    `# - hcc-hsail-src:ro` and a blank line: the comment went below the new keys, de-indented to the service names,
    the blank line was dropped, and the next service's separating blank line stayed above the new keys)."""
    key = service if service in doc.services else next(k for k in doc.services if str(k) == service)
    svc = doc.services[key]
    if not isinstance(svc, CommentedMap) or not len(svc):
        return _apply_ops(doc, service, ops)
    _, last, raw = hold_tail_comments(svc)
    col = _key_col(svc, next(iter(svc.keys())), 4)
    own, rest = split_tail(raw, col)
    try:
        return _apply_ops(doc, service, ops)
    finally:
        if list(doc.services.keys())[-1] == key:
            # the file's last service: what follows it (the file's last comment) stays after the entry it followed
            # (gsafe43), whatever is added after that
            give_after(svc, last, own + rest)
        else:
            give_after(svc, last, own)  # still after the entry they followed
            end = last_own_key(svc) if len(svc) else None
            if end is not None:
                give_after(svc, end, rest)  # after the service's new end, before the next one


def _apply_ops(doc: ComposeDoc, service: str, ops: list[tuple[str, ...]]) -> list[str]:
    # the model names a service by str(key): a service named `1`, `true` or `null` has an int, bool or None key in
    # the tree, and `doc.services["True"]` raised KeyError, an internal error of every --fix/--write (gsafe50)
    key = service if service in doc.services else next(k for k in doc.services if str(k) == service)
    svc: CommentedMap = doc.services[key]
    left: list[str] = []
    home = Rehome(doc.services, key, 0 if doc.v1 else 2)

    def _insert_near(svc: CommentedMap, key: str, value: Any) -> None:
        insert_keeping_comments(svc, key, value, home, ORDER)

    for op in ops:
        if op[0] == "gpu_reservation_count":
            _own(svc, "deploy", ORDER)
            _count_incomplete_reservation(svc)
            continue
        if op[0] == "gpu_reservation":
            if not isinstance(_own(svc, "deploy", ORDER), CommentedMap):
                _insert_near(svc, "deploy", CommentedMap())
            _add_gpu_reservation(svc, op[1], op[2])
            continue
        kind, field = op[0], op[1]
        key = _KEY[field]
        if kind == "set_argv":  # a whole list, in flow style: entrypoint: ["bash", "-c", ...]
            # compose interpolates $VAR in every string: a shell's own "$@" is written $$@
            seq = CommentedSeq([a.replace("$", "$$") for a in op[2:]])
            seq.fa.set_flow_style()
            if key in svc:
                _set_own(svc, key, seq)
            else:
                _insert_near(svc, key, seq)
        elif kind == "unset":
            if key in svc and merged_has(svc, key):
                if key != "privileged":  # no value means "unset" for ipc or pid: say so, change nothing
                    left.append(f"{service}: {key} comes from a YAML merge key (<<): left as written; change it where the anchor sets it")
                elif svc[key] not in (False, "false"):
                    _set_own(svc, key, False)  # the service's own false overrides the merged true
            elif key in svc:
                delete_key(svc, key, home)
        elif kind == "set":
            value: Any = op[2]
            if key in svc:
                _set_own(svc, key, value)
            else:
                _insert_near(svc, key, value)
        elif kind == "list_add":
            item = op[2]
            if key == "environment":
                k, _, v = item.partition("=")
                env = _own(svc, key, ORDER)
                if isinstance(env, dict):
                    env[k] = quoted(v)
                elif isinstance(env, list):
                    env.append(quoted(item))
                else:
                    m = CommentedMap()
                    m[k] = quoted(v)
                    _insert_near(svc, key, m)
                continue
            seq = svc.get(key)
            if isinstance(seq, list) and item in [str(x) for x in seq]:
                continue  # there already (an inherited list stays the anchor's)
            seq = _own_seq(svc, key, _own(svc, key, ORDER))
            if isinstance(seq, str):
                seq = CommentedSeq([seq])
                svc[key] = seq
            if seq is None:
                seq = CommentedSeq()
                _insert_near(svc, key, seq)
            if not isinstance(seq, list):  # `cap_drop: {}`, `devices: 5`: nothing safe to add to
                shape = "mapping" if isinstance(seq, dict) else type(seq).__name__
                raise InputError(f"{service}: {key} is a {shape}, not a list; correct it by hand, then --fix")
            if item not in [str(x) for x in seq]:
                append_item(seq, quoted(item))
        elif kind == "list_remove":
            seq = svc.get(key)

            def hit(x: Any, value: str = op[2]) -> bool:
                return doc.same(x, value) or (isinstance(x, dict) and str(dict(x)) == value)

            if not isinstance(seq, list) or not any(hit(x) for x in seq):
                continue  # nothing to remove (an inherited list stays the anchor's)
            seq = _own_seq(svc, key, _own(svc, key, ORDER))
            if isinstance(seq, CommentedSeq):
                for i in reversed(range(len(seq))):
                    if hit(seq[i]):
                        delete_item(svc, key, seq, i, home)
                if not seq and not merged_has(svc, key):  # else `key: []` stays: the merged list would come back
                    delete_key(svc, key, home)
            elif isinstance(seq, list):
                for i in reversed(range(len(seq))):
                    if hit(seq[i]):
                        del seq[i]
                if not seq and not merged_has(svc, key):
                    del svc[key]
        elif kind == "list_replace":
            seq = svc.get(key)
            items = [seq] if isinstance(seq, str) else seq if isinstance(seq, list) else []
            hits = [i for i, x in enumerate(items) if doc.same(x, op[2])]
            if hits and not isinstance(seq, str):
                seq = _own_seq(svc, key, _own(svc, key, ORDER))
                items = seq
            for i in hits:
                # `${T:-/tmp}` -> /tmp:exec would erase the variable, which may hold other options: an edit that
                # extends the value leaves it; one that replaces a wrong value (a render GID) replaces it
                if isinstance(items[i], dict):  # the long syntax (`type: bind`, `source:`, `target:`)
                    # an item as a mapping was replaced by the string of its Python repr plus `:ro` (gsafe52: a
                    # volume compose refuses); `:ro` or `,ro` appended is `read_only: true` here, in place (its style
                    # and comments kept), or on a copy of an anchor's mapping, which is other services' too
                    if op[3] in (op[2] + ":ro", op[2] + ",ro"):
                        mapping: Any = items[i]
                        if isinstance(mapping, CommentedMap) and mapping.anchor.value is not None:
                            flow = mapping.fa.flow_style()
                            mapping = CommentedMap(mapping)
                            if flow:
                                mapping.fa.set_flow_style()
                            items[i] = mapping
                        mapping["read_only"] = True
                    else:
                        left.append(f"{service}: {key} item {op[2]} is a mapping: left as written")
                elif "$" in str(items[i]) and op[3].startswith(op[2]):
                    left.append(f"{service}: {key} item {items[i]} comes from a variable: left as written")
                elif isinstance(seq, str):  # `tmpfs: /tmp`, one item written as a scalar
                    svc[key] = quoted(op[3])
                else:
                    seq[i] = quoted(op[3])
            if not hits:
                left.append(f"{service}: no {key} item {op[2]} to change: left as written")
    return left


def _map_at(parent: CommentedMap, key: str) -> CommentedMap:
    v = _own(parent, key)  # a merged deploy: block is the anchor's: the service gets its own copy
    if not isinstance(v, CommentedMap):
        v = CommentedMap()
        if key in parent:
            parent[key] = v
        else:
            _insert_near(parent, key, v)
    return v


def _add_gpu_reservation(svc: CommentedMap, driver: str, count: str) -> None:
    """deploy.resources.reservations.devices: [{driver, count, capabilities: [gpu]}], merged into
    an existing deploy: block; nothing when a reservation for that driver is there already."""
    resv = _map_at(_map_at(_map_at(svc, "deploy"), "resources"), "reservations")
    devs = _own(resv, "devices")
    if not isinstance(devs, CommentedSeq):
        devs = CommentedSeq()
        resv["devices"] = devs
    if any(isinstance(d, dict) and d.get("driver") == driver for d in devs):
        return
    entry = CommentedMap()
    entry["driver"] = driver
    entry["count"] = count if count == "all" else int(count)
    caps = CommentedSeq(["gpu"])
    caps.fa.set_flow_style()
    entry["capabilities"] = caps
    devs.append(entry)


def _insert_near(svc: CommentedMap, key: str, value: Any) -> None:
    insert_near(svc, key, value, ORDER)


class ComposeFrontend:
    """Compose files (v1, 2.x/3.x, the Compose spec) as ruamel round-trip trees."""

    def parse(self, text: str, source: str) -> tuple[DeploymentModel, ComposeDoc]:
        return parse_compose(text, source)

    def apply(self, handle: ComposeDoc, service: Service, edits: Sequence[Edit]) -> list[str]:
        ops: list[Op] = []
        refused: list[str] = []
        for e in edits:
            got = spell(service, e)
            if got is None:
                refused.append(unsupported(service, e))
            else:
                ops += got
        try:
            refused += apply_ops(handle, service.name, ops)
        except InputError as exc:  # a key of the wrong type: name the file, change nothing
            raise InputError(f"{handle.source}: {exc}") from None
        return refused

    def dump(self, handle: ComposeDoc) -> str:
        return dump_yaml_docs([handle.root], handle.text)

    def notices(self, handle: ComposeDoc) -> list[str]:
        return extends_notices(handle.services)


def _extends_target(svc: Any) -> tuple[str, str | None] | None:
    """A service's `extends:` as (service, file); None when it has none (or one of no readable shape)."""
    ext = svc.get("extends") if isinstance(svc, dict) else None
    if isinstance(ext, str):
        return ext, None
    if isinstance(ext, dict) and isinstance(ext.get("service"), str):
        f = ext.get("file")
        return ext["service"], (str(f) if f is not None else None)
    return None


def extends_notices(services: Any) -> list[str]:
    """`extends:` is not followed: what a service inherits is not audited, and a cycle (`a -> b -> a`, which Compose
    refuses) passed silently (gsafe46's leftover). One line per service that extends another; a cycle in the file is
    named once (gsafe47)."""
    if not isinstance(services, dict):
        return []
    targets = {str(k): t for k, v in services.items() if (t := _extends_target(v)) is not None}
    names = {str(k) for k in services}
    out: list[str] = []
    cycles: set[frozenset[str]] = set()
    for name, (base, file) in targets.items():
        if file is not None:
            out.append(
                f"service {name} extends {base} of {file}: not followed, what it inherits is not audited "
                "(audit the output of `docker compose config`)"
            )
            continue
        chain = [name]
        cur: str | None = base
        while cur is not None and cur not in chain and len(chain) <= len(targets):
            chain.append(cur)
            nxt = targets.get(cur)
            cur = nxt[0] if nxt is not None and nxt[1] is None else None
        if cur is not None and cur in chain:
            loop = chain[chain.index(cur) :]
            if frozenset(loop) not in cycles:
                cycles.add(frozenset(loop))
                out.append(
                    f"services {' -> '.join([*loop, cur])}: an extends cycle, which Compose refuses; the services are "
                    "audited as written"
                )
            continue
        if base not in names:
            out.append(f"service {name} extends {base}, which is not in this file: not followed")
            continue
        out.append(
            f"service {name} extends {base}: not followed, what it inherits is not audited "
            "(audit the output of `docker compose config`)"
        )
    return out


FRONTEND = ComposeFrontend()
