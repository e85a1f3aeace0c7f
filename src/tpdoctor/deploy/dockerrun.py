"""`docker run` / `podman run` front-end: shell text -> argv -> Service, and argv patching.

Input is what people paste: a shell script with `export IMAGE=...`, `$ ` prompts, `sudo`,
backslash continuations (sometimes broken by comment lines or trailing spaces), maybe a
`docker build` first. We recover the *intended* command and report what the shell would
really run when the continuation is broken.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field

from tpdoctor.deploy.compose import parse_device, parse_security_opt
from tpdoctor.deploy.exceptions import allows_in_lines
from tpdoctor.deploy.model import DeploymentModel, GpuRequest, MountSpec, SecurityOpts, Service, parse_size
from tpdoctor.errors import InputError

# Flags that take no value (docker 28 + podman 4/5). Everything else takes one.
BOOL_FLAGS = {
    "-d", "--detach", "-i", "--interactive", "-t", "--tty", "--rm", "--privileged", "--read-only",
    "--init", "-P", "--publish-all", "--no-healthcheck", "--oom-kill-disable", "--sig-proxy",
    "--disable-content-trust", "--replace", "--read-only-tmpfs", "--no-hosts", "-q", "--quiet",
    "--rootfs", "--env-host", "--http-proxy", "--tls-verify", "--help",
}  # fmt: skip
_SHORT_BOOL = set("dtiPq")


@dataclass
class Flag:
    name: str
    value: str | None
    start: int  # token index
    end: int  # exclusive


@dataclass
class RunCommand:
    engine: str  # docker | podman
    prefix: list[str]  # tokens before the run verb ("sudo", "docker", "run")
    flags: list[Flag]
    image: str | None
    args: list[str]
    tokens: list[str]
    start_line: int
    end_line: int
    breaks: list[tuple[int, str]] = field(default_factory=list)
    effective_end_line: int | None = None
    raw_tokens: list[str] = field(default_factory=list)


def _logical_commands(text: str) -> list[tuple[int, int, str, list[tuple[int, str]], int]]:
    """Join continuation lines. Returns (start, end, joined, breaks, effective_end) per command.

    breaks: (line, why) where a real shell would have ended the command early.
    """
    out: list[tuple[int, int, str, list[tuple[int, str]], int]] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = re.sub(r"^\s*\$\s+", "", lines[i])
        if not line.strip() or line.lstrip().startswith("#"):
            i += 1
            continue
        start = i + 1
        parts: list[str] = []
        breaks: list[tuple[int, str]] = []
        effective: int | None = None
        while True:
            stripped = line.rstrip()
            cont = stripped.endswith("\\")
            if cont and line != line.rstrip():
                breaks.append((i + 1, "trailing whitespace after the backslash ends the command here"))
                effective = effective or i + 1
            parts.append(stripped[:-1] if cont else stripped)
            if not cont:
                break
            j = i + 1
            # comment or blank lines inside a continuation end the command in a real shell
            while j < len(lines) and (not lines[j].strip() or lines[j].lstrip().startswith("#")):
                if lines[j].strip():
                    breaks.append((j + 1, "comment line inside the continuation ends the command here"))
                    effective = effective or i + 1
                j += 1
            if j >= len(lines):
                i = j - 1
                break
            i = j
            line = lines[i]
        out.append((start, i + 1, " ".join(parts), breaks, effective or i + 1))
        i += 1
    return out


_ASSIGN = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$")


def _subst(tok: str, env: dict[str, str]) -> str:
    return re.sub(
        r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?",
        lambda m: env.get(m.group(1), m.group(0)),
        tok,
    )


def find_run_commands(text: str) -> tuple[list[RunCommand], dict[str, str], list[str]]:
    variables: dict[str, str] = {}
    runs: list[RunCommand] = []
    notes: list[str] = []
    for start, end, joined, breaks, eff in _logical_commands(text):
        a = _ASSIGN.match(joined)
        if a and " " not in a.group(2).strip().strip("\"'"):
            variables[a.group(1)] = a.group(2).strip().strip("\"'")
            continue
        try:
            raw = shlex.split(joined, comments=True)
        except ValueError as exc:
            raise InputError(f"line {start}: cannot split the shell command: {exc}") from None
        toks = [_subst(t, variables) for t in raw]
        k = 0
        while k < len(toks) and (toks[k] in ("sudo", "-E", "exec", "time") or _ASSIGN.match(toks[k])):
            k += 1
        if k >= len(toks):
            continue
        engine = toks[k].rsplit("/", 1)[-1]
        if engine not in ("docker", "podman", "nerdctl"):
            continue
        verb = toks[k + 1 : k + 3]
        if verb[:1] == ["build"] or verb == ["image", "build"]:
            for t in toks:
                if t.startswith("--shm-size"):
                    notes.append(f"line {start}: {t} is given to `{engine} build`, not to the container run")
            continue
        if verb[:1] == ["run"]:
            n = k + 2
        elif verb == ["container", "run"]:
            n = k + 3
        else:
            continue
        flags, image_idx = _parse_flags(toks, n)
        image = toks[image_idx] if image_idx < len(toks) else None
        runs.append(
            RunCommand(
                engine="podman" if engine == "podman" else "docker",
                prefix=raw[:n],
                flags=flags,
                image=image,
                args=toks[image_idx + 1 :],
                tokens=toks,
                raw_tokens=raw,
                start_line=start,
                end_line=end,
                breaks=breaks,
                effective_end_line=eff,
            )
        )
    return runs, variables, notes


def _parse_flags(toks: list[str], i: int) -> tuple[list[Flag], int]:
    flags: list[Flag] = []
    while i < len(toks):
        t = toks[i]
        if t == "--":
            return flags, i + 1
        if not t.startswith("-") or t == "-":
            return flags, i
        if t.startswith("--"):
            name, eq, val = t.partition("=")
            if eq:
                flags.append(Flag(name, val, i, i + 1))
                i += 1
            elif name in BOOL_FLAGS:
                flags.append(Flag(name, None, i, i + 1))
                i += 1
            else:
                flags.append(Flag(name, toks[i + 1] if i + 1 < len(toks) else None, i, i + 2))
                i += 2
            continue
        # short: -itd (booleans) or -v VALUE / -vVALUE / -e=X
        if all(c in _SHORT_BOOL for c in t[1:]):
            flags.extend(Flag(f"-{c}", None, i, i + 1) for c in t[1:])
            i += 1
        elif len(t) > 2:
            flags.append(Flag(t[:2], t[2:].lstrip("="), i, i + 1))
            i += 1
        else:
            flags.append(Flag(t, toks[i + 1] if i + 1 < len(toks) else None, i, i + 2))
            i += 2
    return flags, i


_LONG = {
    "-v": "--volume",
    "-e": "--env",
    "-u": "--user",
    "-p": "--publish",
    "-w": "--workdir",
    "-h": "--hostname",
}


def canonical(name: str) -> str:
    name = _LONG.get(name, name)
    return "--network" if name == "--net" else name


def run_to_service(run: RunCommand, index: int, lines: list[str]) -> Service:
    sec = SecurityOpts()
    s = Service(name=f"{run.engine}-run-{index}", format="podman" if run.engine == "podman" else "docker")
    s.image = run.image
    s.command = list(run.args)
    s.line = run.start_line
    sec_opts: list[str] = []
    for f in run.flags:
        n, v = canonical(f.name), f.value or ""
        if n == "--device":
            s.devices.append(parse_device(v))
        elif n == "--device-cgroup-rule":
            s.device_cgroup_rules.append(v)
        elif n == "--volume":
            parts = v.split(":")
            src = parts[0]
            opts = parts[2].split(",") if len(parts) > 2 else []
            kind = "bind" if src.startswith(("/", ".", "~", "$")) else "volume"
            s.mounts.append(
                MountSpec(
                    kind=kind,  # type: ignore[arg-type]
                    source=src,
                    target=parts[1] if len(parts) > 1 else src,
                    read_only="ro" in opts,
                    raw=v,
                )
            )
        elif n == "--mount":
            kv = dict(p.partition("=")[::2] for p in v.split(","))
            kind = kv.get("type", "volume")
            s.mounts.append(
                MountSpec(
                    kind=kind if kind in ("bind", "volume", "tmpfs") else "other",  # type: ignore[arg-type]
                    source=kv.get("source", kv.get("src", "")),
                    target=kv.get("target", kv.get("destination", kv.get("dst", ""))),
                    read_only="readonly" in kv or kv.get("ro") == "true" or "ro" in v.split(","),
                    raw=v,
                )
            )
        elif n == "--tmpfs":
            s.mounts.append(MountSpec(kind="tmpfs", target=v.split(":")[0], raw=v))
        elif n == "--group-add":
            s.group_add.append(v)
        elif n == "--user":
            s.user = v
        elif n == "--cap-add":
            s.cap_add.append(v)
        elif n == "--cap-drop":
            s.cap_drop.append(v)
        elif n == "--privileged":
            s.privileged = True
        elif n == "--security-opt":
            sec_opts.append(v)
        elif n == "--shm-size":
            s.shm_size, s.shm_size_raw = parse_size(v), v
        elif n == "--ipc":
            s.ipc = v
        elif n == "--pid":
            s.pid = v
        elif n == "--network":
            s.network = v
        elif n == "--uts":
            s.uts = v
        elif n == "--userns":
            s.userns = v
        elif n == "--ulimit":
            k, _, val = v.partition("=")
            s.ulimits[k] = val.split(":")[0]
        elif n == "--read-only":
            s.read_only = True
        elif n == "--env":
            k, eq, val = v.partition("=")
            s.env[k] = val if eq else f"${k}"
        elif n == "--gpus":
            ids = re.findall(r"device=([0-9,]+)", v)
            idl = ids[0].split(",") if ids else []
            cnt = len(idl) or (None if v.strip("\"'") == "all" else int(v) if v.isdigit() else None)
            s.gpus.append(GpuRequest(via="gpus-flag", vendor="nvidia", count=cnt, ids=idl, raw=f"--gpus {v}"))
        elif n == "--runtime":
            s.runtime = v
            if v == "nvidia":
                s.gpus.append(GpuRequest(via="runtime", vendor="nvidia", raw=f"--runtime {v}"))
    for d in s.devices:
        if d.is_cdi:
            vendor = (
                "nvidia"
                if d.host.startswith("nvidia.com")
                else "intel"
                if "intel" in d.host
                else "amd"
                if "amd" in d.host
                else "unknown"
            )
            s.gpus.append(
                GpuRequest(via="cdi", vendor=vendor, count=None if d.host.endswith("=all") else 1, raw=d.host)  # type: ignore[arg-type]
            )
    parse_security_opt(sec_opts, sec)
    s.security = sec
    allows, problems = allows_in_lines(lines[run.start_line - 1 : run.end_line])
    s.allows, s.notes = allows, problems
    return s


def parse_run_text(
    text: str, source: str, engine_hint: str | None = None
) -> tuple[DeploymentModel, list[RunCommand]]:
    runs, _vars, notes = find_run_commands(text)
    if not runs:
        raise InputError(f"{source}: no `docker run` or `podman run` command found")
    lines = text.splitlines()
    fmt = "podman" if all(r.engine == "podman" for r in runs) else "docker"
    model = DeploymentModel(source=source, format=fmt, notes=notes)  # type: ignore[arg-type]
    for i, r in enumerate(runs):
        s = run_to_service(r, i, lines)
        if r.breaks:
            s.extra["continuation_breaks"] = "; ".join(f"line {ln}: {why}" for ln, why in r.breaks)
            s.extra["effective_end_line"] = str(r.effective_end_line)
        for note in notes:
            if "--shm-size" in note and s.shm_size is None:
                s.extra["shm_size_on_build"] = note
        model.services.append(s)
    return model, runs


# --- patching / emitting ----------------------------------------------------------------------

_FLAG_OF = {
    "devices": "--device",
    "volumes": "--volume",
    "tmpfs": "--tmpfs",
    "group_add": "--group-add",
    "cap_add": "--cap-add",
    "cap_drop": "--cap-drop",
    "security_opt": "--security-opt",
    "privileged": "--privileged",
    "shm_size": "--shm-size",
    "ipc": "--ipc",
    "env": "--env",
}


def quote(tok: str) -> str:
    if re.fullmatch(r"[\w@%+=:,./${}~-]+", tok):  # ~ stays bare: the shell expands it
        return tok
    if not re.search(r'["\\`]', tok):
        return f'"{tok}"'
    return shlex.quote(tok)


def patched_argv(run: RunCommand, ops: list[tuple[str, ...]]) -> list[tuple[str, str | None]]:
    """The run's options after the plan, as (flag, value) pairs in the user's order, new ones last."""
    opts: list[tuple[str, str | None]] = []
    raw = run.raw_tokens
    for f in run.flags:
        # keep the user's spelling (unsubstituted $VARS) for values
        val = raw[f.end - 1] if f.value is not None and f.end - f.start == 2 else f.value
        if f.value is not None and f.end - f.start == 1 and "=" in raw[f.start]:
            val = raw[f.start].partition("=")[2]
        opts.append((f.name, val))
    for op in ops:
        kind, fld = op[0], op[1]
        if kind == "gpu_reservation":
            opts.extend(_gpu_opts(run.engine, opts, op[2]))
            continue
        flag = _FLAG_OF[fld]
        same = (
            {flag}
            | {k for k, v in _LONG.items() if v == flag}
            | ({"--net"} if flag == "--network" else set())
        )
        if kind == "unset":
            opts = [o for o in opts if o[0] not in same]
        elif kind == "set":
            idx = [i for i, o in enumerate(opts) if o[0] in same]
            if idx:
                opts[idx[0]] = (flag, op[2])
            else:
                opts.append((flag, op[2]))
        elif kind == "list_add":
            if not any(o[0] in same and o[1] == op[2] for o in opts):
                opts.append((flag, op[2]))
        elif kind == "list_remove":
            opts = [o for o in opts if not (o[0] in same and o[1] == op[2])]
        elif kind == "list_replace":
            opts = [(o[0], op[3]) if o[0] in same and o[1] == op[2] else o for o in opts]
    return opts


def _gpu_opts(engine: str, opts: list[tuple[str, str | None]], count: str) -> list[tuple[str, str | None]]:
    """docker: --gpus N|all; podman: CDI devices nvidia.com/gpu=I (nvidia-ctk cdi generate)."""
    if engine == "podman":
        if any(n == "--device" and (v or "").startswith("nvidia.com/gpu=") for n, v in opts):
            return []
        ids = ["all"] if count == "all" else [str(i) for i in range(int(count))]
        return [("--device", f"nvidia.com/gpu={i}") for i in ids]
    if any(n == "--gpus" for n, _ in opts):
        return []
    return [("--gpus", count)]


def emit_run(
    prefix: list[str], opts: list[tuple[str, str | None]], image: str, args: list[str], indent: str = "  "
) -> str:
    lines = [" ".join(quote(t) for t in prefix)]
    shorts = "".join(n[1] for n, v in opts if v is None and len(n) == 2 and n[1] in _SHORT_BOOL)
    if shorts:
        lines[0] += f" -{shorts}"
    for n, v in opts:
        if v is None and len(n) == 2 and n[1] in _SHORT_BOOL:
            continue
        lines.append(f"{indent}{n}" if v is None else f"{indent}{n} {quote(v)}")
    lines.append(indent + " ".join(quote(t) for t in [image, *args]))
    return " \\\n".join(lines)


def patch_script(text: str, run: RunCommand, ops: list[tuple[str, ...]]) -> str:
    opts = patched_argv(run, ops)
    raw = run.raw_tokens
    image_raw = raw[len(run.tokens) - len(run.args) - 1] if run.image is not None else "IMAGE"
    args_raw = raw[len(raw) - len(run.args) :] if run.args else []
    lines = text.splitlines(keepends=True)
    first = lines[run.start_line - 1]
    indent = first[: len(first) - len(first.lstrip())]
    prompt = "$ " if first.lstrip().startswith("$ ") else ""
    new = indent + prompt + emit_run(run.prefix, opts, image_raw, args_raw, indent=indent + "    ") + "\n"
    return "".join([*lines[: run.start_line - 1], new, *lines[run.end_line :]])
