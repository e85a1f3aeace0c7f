"""`docker run` / `podman run` front-end: shell text -> argv -> Service, and argv patching.

Input is what people paste: a shell script with `export IMAGE=...`, `$ ` prompts, `sudo`,
backslash continuations (sometimes broken by comment lines or trailing spaces), maybe a
`docker build` first. We recover the *intended* command and report what the shell would
really run when the continuation is broken.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field

from tpdoctor.deploy.compose import parse_device, parse_security_opt
from tpdoctor.deploy.exceptions import allows_in_lines
from tpdoctor.deploy.frontend import unsupported
from tpdoctor.deploy.model import DeploymentModel, GpuRequest, MountSpec, SecurityOpts, Service, tmpfs_mount
from tpdoctor.deploy.shellwords import (
    Edit,
    ShellSyntaxError,
    Word,
    apply_edits,
    mask_doc,
    split_commands,
    unquote,
)
from tpdoctor.engine_flags import RUN_BOOL_FLAGS, SHORT_BOOL, short_bools_end
from tpdoctor.errors import InputError, NotDeploymentError
from tpdoctor.limits import cap_count, cap_services, parse_count
from tpdoctor.model import driver_caps
from tpdoctor.model.edits import Edit as TypedEdit
from tpdoctor.model.edits import RepairContinuation, SetEntrypoint
from tpdoctor.units import parse_go_int, parse_size

# Flags that take no value: engine_flags.py. Everything else takes one.


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
    words: list[Word] = field(default_factory=list)  # source spans, aligned with tokens
    image_idx: int = 0
    repairs: list[Edit] = field(default_factory=list)  # bytes that mend a broken continuation
    unsafe: list[str] = field(default_factory=list)  # why this command must not be edited
    notices: list[str] = field(default_factory=list)


_ASSIGN = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)=(.*)$", re.S)
_CMD_SUBST = re.compile(r"^(?:\$\(.*\)|`[^`]*`)$", re.S)
_BARE_VAR = re.compile(r"^\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))$")
_ARRAY = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*\[[@*]\]")
_IMAGE_VAR = re.compile(r"IMAGE|IMG|TAG|REPO|CONTAINER_NAME", re.I)
_ENGINES = ("docker", "podman", "nerdctl")
_LEAD = {
    "sudo",
    "-E",
    "exec",
    "time",
    "command",
    "if",
    "elif",
    "while",
    "until",
    "then",
    "do",
    "else",
    "!",
    "{",
    "nohup",
}


def _subst(tok: str, env: dict[str, str]) -> str:
    """Expand $VAR, ${VAR} and ${VAR:-default} / ${VAR-default} from the script's own assignments."""

    def one(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(3)
        if name in env:
            return env[name]
        if m.group(2) is not None:
            return m.group(2)
        return m.group(0)

    return re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?-([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)", one, tok)


def find_run_commands(
    text: str, source: str = "script"
) -> tuple[list[RunCommand], dict[str, str], list[str]]:
    variables: dict[str, str] = {}
    runs: list[RunCommand] = []
    notes: list[str] = []
    scan = mask_doc(text, source)
    try:
        commands = split_commands(scan)
    except ShellSyntaxError as exc:
        line = scan.count("\n", 0, exc.offset) + 1
        raise InputError(f"{source}: line {line}: {exc.what}: the shell would refuse this script") from None
    except RecursionError:
        # `${${${…` or `$($($(…` thousands deep: the tokenizer recurses per level. `explain` of a log holding such a
        # line refused the whole log (`input nested too deeply`, exit 2: logquote reads each quoted command through
        # here and skips only an InputError), and `audit` said so without the file (gsafe47)
        raise InputError(f"{source}: expansions nested too deeply: refusing") from None
    for cmd in commands:
        words = [w for w in cmd.words if w.kind == "word"]
        # drop redirections and their targets: they are not arguments
        args_w: list[Word] = []
        skip = False
        for w in cmd.words:
            if skip:
                skip = False
                continue
            if w.kind == "redir":
                skip = True
                continue
            if w.kind == "word":
                args_w.append(w)
        if args_w and args_w[0].raw == "$":  # a pasted prompt
            # a console transcript prompts every continued line too (`$   --shm-size 1g ... \`: LightLLM's
            # installation.rst, gwild54): the `$` that opens a line is the prompt, not an argument
            args_w = [w for i, w in enumerate(args_w) if not (w.raw == "$" and (i == 0 or args_w[i - 1].line < w.line))]
        words = args_w
        if not words:
            continue
        if words[0].raw == "export":
            words = words[1:]
        if words and all(_ASSIGN.match(w.raw) for w in words):
            for w in words:
                name, _, val = w.raw.partition("=")
                v = _subst(unquote(val), variables)
                if val.startswith("(") or " " in v.strip():
                    continue  # arrays and word lists: not a single value
                variables[name] = v
            continue
        raw = [unquote(w.raw) for w in words]
        toks = [_subst(t, variables) for t in raw]
        if toks and toks[0] == "eval" and any(e in " ".join(toks[1:]) for e in _ENGINES):
            notes.append(
                f"line {words[0].line}: a container command run through `eval` is not read or edited"
            )
            continue
        k = 0
        while k < len(toks) and (toks[k] in _LEAD or _ASSIGN.match(toks[k])):
            k += 1
        if k >= len(toks):
            continue
        engine = toks[k].rsplit("/", 1)[-1]
        if engine not in _ENGINES:
            continue
        verb = toks[k + 1 : k + 3]
        if verb[:1] == ["build"] or verb == ["image", "build"]:
            for t in toks:
                if t.startswith("--shm-size"):
                    notes.append(
                        f"line {words[0].line}: {t} is given to `{engine} build`, not to the container run"
                    )
            continue
        # `create` takes run's flags ("similar to docker run -d except the container is never started", moby
        # man/src/container/create.md; podman create alike): the container it makes is the one `docker start` runs
        # later
        if verb[:1] in (["run"], ["create"]):
            n = k + 2
        elif verb in (["container", "run"], ["container", "create"]):
            n = k + 3
        else:
            continue
        opaque = {
            i
            for i in range(n, len(words))
            if _is_opaque(words[i].raw, toks[i], toks[i + 1] if i + 1 < len(toks) else None)
        }
        flags, image_idx = parse_flags(toks, n, opaque)
        image = toks[image_idx] if image_idx < len(toks) else None
        unsafe = [
            f"line {words[i].line}: {words[i].raw} is an array expansion"
            for i, w in enumerate(words)
            if _ARRAY.search(w.raw)
        ]
        run_notes = [
            f"line {words[i].line}: {words[i].raw} expands to words tpdoctor cannot see "
            "(flags after it are still read; flags inside it are not checked)"
            for i in sorted(opaque)
            if i < image_idx
        ]
        cap_services(len(runs) + 1, "container commands", source)
        runs.append(
            RunCommand(
                engine="podman" if engine == "podman" else "docker",
                prefix=raw[:n],
                flags=flags,
                image=image,
                args=toks[image_idx + 1 :],
                tokens=toks,
                raw_tokens=raw,
                start_line=cmd.start_line,
                end_line=cmd.end_line,
                breaks=cmd.breaks,
                effective_end_line=cmd.effective_end_line or cmd.end_line,
                words=words,
                image_idx=image_idx,
                repairs=cmd.repairs,
                unsafe=unsafe,
                notices=run_notes,
            )
        )
    return runs, variables, notes


def _is_opaque(raw: str, tok: str, nxt: str | None) -> bool:
    """An unquoted expansion of a variable the script does not set, in option position: it may hold
    any number of flags. Taken for the image only when its name says so or no option follows."""
    if _ARRAY.search(raw):
        return True
    if _CMD_SUBST.match(raw) and tok == raw:
        # an unquoted $(...) or `...` whose output the shell splits into words, in option position: llm-scaler's
        # run_gpu_container.sh `$(for dev in /dev/mei*; do echo --device $dev; done)` before --cap-add=SYS_ADMIN and
        # the by-path mount (gwild50: every flag after it was taken for the image and its arguments)
        return nxt is not None and nxt.startswith("-")
    m = _BARE_VAR.match(raw)
    if not m or tok != raw:
        return False
    return not _IMAGE_VAR.search(m.group(1) or m.group(2)) and nxt is not None and nxt.startswith("-")


def parse_flags(toks: list[str], i: int, opaque: set[int] | None = None) -> tuple[list[Flag], int]:
    """The flags of `docker run` from toks[i] on, and the index of the first token after them (the image)."""
    flags: list[Flag] = []
    while i < len(toks):
        t = toks[i]
        if opaque and i in opaque:
            i += 1
            continue
        if t == "--":
            return flags, i + 1
        if not t.startswith("-") or t == "-":
            return flags, i
        if t.startswith("--"):
            name, eq, val = t.partition("=")
            if eq:
                flags.append(Flag(name, val, i, i + 1))
                i += 1
            elif name in RUN_BOOL_FLAGS:
                flags.append(Flag(name, None, i, i + 1))
                i += 1
            else:
                flags.append(Flag(name, toks[i + 1] if i + 1 < len(toks) else None, i, i + 2))
                i += 2
            continue
        # short: -itd (booleans) or -v VALUE / -vVALUE / -e=X, and booleans before a value's flag as pflag reads
        # them: `-itv /a:/b` is -i -t -v /a:/b (the path was read as the image and every flag after it, a
        # `--privileged`, as the program's: audit found nothing, gsafe50)
        j = short_bools_end(t)
        flags.extend(Flag(f"-{c}", None, i, i + 1) for c in t[1:j])
        if j == len(t):
            i += 1
        elif j + 1 < len(t):
            flags.append(Flag(f"-{t[j]}", t[j + 1 :].lstrip("="), i, i + 1))
            i += 1
        else:
            flags.append(Flag(f"-{t[j]}", toks[i + 1] if i + 1 < len(toks) else None, i, i + 2))
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


# strconv.ParseBool's false spellings: pflag's `--privileged=false` (a blanket `--privileged` is None)
_GO_FALSE = frozenset({"0", "f", "F", "false", "FALSE", "False"})


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
            s.mounts.append(tmpfs_mount(v))
        elif n == "--group-add":
            s.group_add.append(v)
        elif n == "--user":
            s.user = v
        elif n == "--cap-add":
            s.cap_add.append(v)
        elif n == "--cap-drop":
            s.cap_drop.append(v)
        elif n == "--privileged":
            s.privileged = f.value not in _GO_FALSE  # `--privileged=false` is no privilege (gsafe50)
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
        elif n == "--pids-limit":
            s.pids_limit = parse_go_int(v)
        elif n == "--read-only":
            s.read_only = f.value not in _GO_FALSE
        elif n == "--env":
            k, eq, val = v.partition("=")
            s.env[k] = val if eq else f"${k}"
        elif n == "--gpus":
            ids = re.findall(r"device=([0-9,]+)", v)
            idl = ids[0].split(",") if ids else []
            # bounded as compose's count is (limits.py): `--gpus 99999999999999999999` built a fix for that many
            # GPUs (a list of 10**20 render nodes: no end), `--gpus ²` raised ValueError (gsafe50)
            cap_count(len(idl), "--gpus device=")
            bare = v.strip("\"'")
            cnt = len(idl) or (
                None if bare == "all" else parse_count(bare, "--gpus") if bare.isascii() and bare.isdigit() else None
            )
            # docker/cli opts/gpus.go: `capabilities=a,b` (CSV-quoted) becomes [a, b, gpu]
            caps = re.search(r"capabilities=([\w,]+)", v)
            s.gpus.append(
                GpuRequest(
                    via="gpus-flag", vendor="nvidia", count=cnt, ids=idl, raw=f"--gpus {v}",
                    driver_caps=driver_caps.from_request(caps.group(1).split(",")) if caps else None,
                )
            )
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
    runs, _vars, notes = find_run_commands(text, source)
    if not runs:
        raise NotDeploymentError(f"{source}: no `docker run` or `podman run` command found")
    lines = text.splitlines()
    fmt = "podman" if all(r.engine == "podman" for r in runs) else "docker"
    model = DeploymentModel(source=source, format=fmt, notes=notes)  # type: ignore[arg-type]
    for i, r in enumerate(runs):
        s = run_to_service(r, i, lines)
        s.variables = dict(_vars)
        if r.breaks:
            s.extra["continuation_breaks"] = "; ".join(f"line {ln}: {why}" for ln, why in r.breaks)
            s.extra["effective_end_line"] = str(r.effective_end_line)
        for note in notes:
            if "--shm-size" in note and s.shm_size is None:
                s.extra["shm_size_on_build"] = note
        model.services.append(s)
    return model, runs


# --- patching / emitting ----------------------------------------------------------------------

# the compose key an edit names -> the `docker run` flag that spells it
FLAG_OF = {
    "devices": "--device",
    "volumes": "--volume",
    "mounts": "--mount",  # docker/podman run only: compose's long volume syntax is a mapping
    "tmpfs": "--tmpfs",
    "group_add": "--group-add",
    "cap_add": "--cap-add",
    "cap_drop": "--cap-drop",
    "security_opt": "--security-opt",
    "privileged": "--privileged",
    "shm_size": "--shm-size",
    "ipc": "--ipc",
    "pid": "--pid",
    "env": "--env",
}


def quote(tok: str) -> str:
    if re.fullmatch(r"[\w@%+=:,./${}~-]+", tok):  # ~ stays bare: the shell expands it
        return tok
    if not re.search(r'["\\`]', tok):
        return f'"{tok}"'
    return shlex.quote(tok)


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
    shorts = "".join(n[1] for n, v in opts if v is None and len(n) == 2 and n[1] in SHORT_BOOL)
    if shorts:
        lines[0] += f" -{shorts}"
    for n, v in opts:
        if v is None and len(n) == 2 and n[1] in SHORT_BOOL:
            continue
        lines.append(f"{indent}{n}" if v is None else f"{indent}{n} {quote(v)}")
    lines.append(indent + " ".join(quote(t) for t in [image, *args]))
    return " \\\n".join(lines)


def flag_spellings(flag: str) -> set[str]:
    """Every way a command line may write the flag: its short form and its aliases."""
    return {flag} | {k for k, v in _LONG.items() if v == flag} | ({"--net"} if flag == "--network" else set())


def written_values(run: RunCommand, f: Flag) -> set[str | None]:
    """The flag's value as written (variables unexpanded) and as the audit read it."""
    if f.value is None:
        return {None}
    raw = run.raw_tokens[f.end - 1] if f.end - f.start == 2 else run.raw_tokens[f.start]
    if f.end - f.start == 1:
        raw = raw.partition("=")[2] if "=" in raw and raw.startswith("--") else raw[2:].lstrip("=")
    return {raw, f.value}


def _flag_span(text: str, run: RunCommand, f: Flag) -> Edit:
    """The flag's words plus the blanks that separated them from their neighbour on the line."""
    s, e = run.words[f.start].start, run.words[f.end - 1].end
    m = re.match(r"[ \t]+", text[e:])
    if m and text[e + m.end() : e + m.end() + 1] not in ("\n", "\\", ""):
        return Edit(s, e + m.end(), "")
    while s > 0 and text[s - 1] in " \t":
        s -= 1
    return Edit(s, e, "")


def _value_edit(run: RunCommand, f: Flag, new: str) -> Edit:
    w = run.words[f.end - 1]
    if f.end - f.start == 2:
        return Edit(w.start, w.end, quote(new))
    cut = w.raw.index("=") + 1 if w.raw.startswith("--") else 2 + (w.raw[2:3] == "=")
    return Edit(w.start + cut, w.end, quote(new))


def script_edits(text: str, run: RunCommand, ops: list[tuple[str, ...]], repair: bool) -> list[Edit] | str:
    """The byte edits that apply `ops` to this command, or why it cannot be edited safely.

    Only the flag words that change are touched: removed flags lose their words (and a line that
    held nothing else), new flags go just before the image, in the command's own layout."""
    edits: list[Edit] = []
    if repair:
        ls = text.rfind("\n", 0, run.words[0].start) + 1
        indent = text[ls : run.words[0].start][: -len(text[ls : run.words[0].start].lstrip(" \t")) or None]
        for r in run.repairs:
            if r.start < 0:  # a comment moved out of the continuation goes above the command
                edits.append(Edit(ls, ls, indent + r.text.rstrip("\n") + "\n"))
            else:
                edits.append(r)
    if not ops:
        return edits
    if run.unsafe:
        return "; ".join(run.unsafe) + ": command left as written"
    live = list(run.flags)  # flags still present after the edits so far
    added: list[tuple[str, str | None]] = []

    def edit_guard(f: Flag, whole: bool) -> str | None:
        """A flag spelled through a variable cannot be edited without changing what the variable means."""
        words = run.words[f.start : f.end] if not whole else run.words[f.start : f.start + 1]
        first = run.raw_tokens[f.start]
        if not first.startswith("--") and not first.startswith(f.name):
            # a short flag glued behind booleans (`-itv X`): its words hold the others too
            return f"line {words[0].line}: {first} holds {f.name} with other flags"
        if f.end - f.start == 1 or not whole:
            for w in words:
                if "$" in w.raw or "`" in w.raw:
                    return f"line {w.line}: {w.raw} comes from a variable or command"
        return None

    for op in ops:
        kind, fld = op[0], op[1]
        if kind == "gpu_reservation":
            have = [(f.name, f.value) for f in live] + added
            added.extend(_gpu_opts(run.engine, have, op[2]))
            continue
        flag = FLAG_OF[fld]
        same = flag_spellings(flag)
        hit = [f for f in live if f.name in same]
        if kind != "unset":
            hit = [f for f in hit if kind == "set" or op[2] in written_values(run, f)]
        for f in hit[: 1 if kind == "set" else None]:
            # removal keeps a $VAR value harmlessly; a rewrite or a flag name from a variable does not
            why = edit_guard(f, whole=kind in ("unset", "list_remove"))
            if why:
                return why + ": command left as written"
        if kind == "unset" or kind == "list_remove":
            for f in hit:
                edits.append(_flag_span(text, run, f))
                live.remove(f)
            if kind == "list_remove":
                added = [a for a in added if not (a[0] in same and a[1] == op[2])]
        elif kind == "set":
            if hit and hit[0].value is not None:
                edits.append(_value_edit(run, hit[0], op[2]))
            elif not hit:
                added.append((flag, op[2]))
        elif kind == "list_add":
            if not any(op[2] in written_values(run, f) for f in hit) and (flag, op[2]) not in added:
                added.append((flag, op[2]))
        elif kind == "list_replace":
            for f in hit:
                edits.append(_value_edit(run, f, op[3]))
    if added:
        ins = _insertion(text, run, added)
        if isinstance(ins, str):
            return ins
        edits.append(ins)
    return edits


def _insertion(text: str, run: RunCommand, added: list[tuple[str, str | None]]) -> Edit | str:
    if run.image_idx >= len(run.words):
        return f"line {run.start_line}: no image word to put new flags before: command left as written"
    img = run.words[run.image_idx]
    ls = text.rfind("\n", 0, img.start) + 1
    lead = text[ls : img.start]
    parts = [n if v is None else f"{n} {quote(v)}" for n, v in added]
    if not lead.strip(" \t") and re.search(r"\\\n$", text[:ls]):  # one flag per line: keep that
        return Edit(ls, ls, "".join(f"{lead}{p} \\\n" for p in parts))
    return Edit(img.start, img.start, " ".join(parts) + " ")


class ShellDoc(list[RunCommand]):
    """The `docker run` / `podman run` commands of a script (a list, one per service, in order)
    and the byte edits applied to its text so far."""

    def __init__(self, text: str, runs: list[RunCommand], notes: list[str]) -> None:
        super().__init__(runs)
        self.text = text
        self.notes = notes  # commands not read (`eval`), flags given to `docker build`
        self.edits: list[Edit] = []


class ShellFrontend:
    """docker/podman run commands in shell scripts and READMEs, edited word by word in place:
    only the flag words that change are touched (shellwords.py keeps every word's span)."""

    def parse(self, text: str, source: str) -> tuple[DeploymentModel, ShellDoc]:
        model, runs = parse_run_text(text, source)
        return model, ShellDoc(text, runs, list(model.notes))

    def apply(self, handle: ShellDoc, service: Service, edits: Sequence[TypedEdit]) -> list[str]:
        from tpdoctor.deploy.compose import spell

        run = handle[int(service.name.rsplit("-", 1)[1])]
        ops: list[tuple[str, ...]] = []
        refused: list[str] = []
        for e in edits:
            got = None if isinstance(e, SetEntrypoint) else spell(service, e)
            if got is None:
                refused.append(unsupported(service, e))
            else:
                ops += got
        repair = any(isinstance(e, RepairContinuation) for e in edits)
        got_edits = script_edits(handle.text, run, ops, repair)
        if isinstance(got_edits, str):
            return [*refused, got_edits]
        handle.edits.extend(got_edits)
        return refused

    def dump(self, handle: ShellDoc) -> str:
        return apply_edits(handle.text, handle.edits)

    def notices(self, handle: ShellDoc) -> list[str]:
        return [*handle.notes, *(n for r in handle for n in [*r.unsafe, *r.notices])]


FRONTEND = ShellFrontend()
