"""Dev Container front-end: `devcontainer.json` (JSONC) -> the `docker run` it becomes -> Service.

VS Code Dev Containers, the `devcontainer` CLI, Codespaces and JetBrains read
`.devcontainer/devcontainer.json`, `.devcontainer.json` or `.devcontainer/<name>/devcontainer.json`
(devcontainers/spec docs/specs/devcontainer-reference.md). The file is JSON with comments
(`//`, `/* */`) and trailing commas: devcontainers/cli src/spec-node/configContainer.ts
`readDevContainerConfigFile` reads it with jsonc-parser's `jsonc.parse`, which accepts both.

How the properties become `docker run` arguments (devcontainers/cli, src/spec-node/):
- singleContainer.ts `spawnDevContainer`: `mounts` -> `--mount` (dockerfileUtils.ts
  `generateMountCommand`: a string as written, an object as `type=T,src=S,dst=D`),
  `containerEnv` -> `-e K=V`, `containerUser` -> `-u`, then `runArgs` verbatim, then
  `extraRunArgs` (`hostRequirements.gpu` -> `--gpus all` when `docker info` lists the nvidia
  runtime, utils.ts `checkDockerSupportForGPU`; `"optional"` only then, `true` warns otherwise),
  then `init` -> `--init`, `privileged` -> `--privileged`, `capAdd` -> `--cap-add`,
  `securityOpt` -> `--security-opt`. runArgs items reach the CLI as argv words, one each, with no
  shell: `"--gpus all"` is ONE argument, which docker's flag parser refuses ("unknown flag:
  --gpus all"; microsoft/vscode-remote-release#6989).
- dockerCompose.ts (a `dockerComposeFile` + `service` config): runArgs are not read; the same
  top-level properties are written into an override compose file for that service
  (`privileged: true`, `cap_add`, `security_opt`, `init`, `volumes`, `environment`, and a
  `deploy.resources.reservations.devices: [{capabilities: [gpu]}]` for hostRequirements.gpu).
  The compose file itself is not followed: one notice names it, and the user audits it as a
  compose file (a path in a config is not ours to open; it may lie outside the tree given).

runArgs go through dockerrun.py's flag parser (`parse_flags`, `run_to_service`): the same
Service as a `docker run` line. `--fix` edits the JSON text in place, byte for byte: a runArgs
item's string replaced, an item or property removed with its comma, an item appended, a
property added after the last one, in the file's own layout; comments, order, indentation and
trailing commas elsewhere stay as written.
"""

from __future__ import annotations

import bisect
import json
import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from tpdoctor.deploy.dockerrun import (
    FLAG_OF,
    Flag,
    RunCommand,
    canonical,
    flag_spellings,
    parse_flags,
    run_to_service,
    written_values,
)
from tpdoctor.deploy.exceptions import parse_allow_body
from tpdoctor.deploy.frontend import unsupported
from tpdoctor.deploy.io import MAX_DEPTH, MAX_NODES
from tpdoctor.deploy.model import DeploymentModel, Service, normalize_cap
from tpdoctor.engine_flags import RUN_BOOL_FLAGS
from tpdoctor.errors import InputError
from tpdoctor.model.edits import Edit as TypedEdit
from tpdoctor.model.edits import SetEntrypoint, SplitArgument

# --- JSONC with spans ---------------------------------------------------------------------------


@dataclass(eq=False)
class JNode:
    """A JSON value (or an object member: kind "member", `key`, `val`) and its byte span."""

    kind: str  # object | array | string | number | literal | member
    start: int
    end: int
    value: Any = None  # a scalar's Python value
    elems: list[JNode] = field(default_factory=list)  # array items / object members
    key: str = ""
    val: JNode | None = None  # a member's value
    comma: int | None = None  # the comma after this element in its container

    def get(self, key: str) -> JNode | None:
        """The member `key` of an object (the last one: jsonc.parse keeps the last)."""
        hit = [m for m in self.elems if m.key == key] if self.kind == "object" else []
        return hit[-1] if hit else None


_STRING = re.compile(r'"(?:[^"\\\x00-\x1f]|\\.)*"', re.S)
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_WS = re.compile(r"[ \t\r\n\ufeff]+")


class _Parser:
    def __init__(self, text: str, source: str) -> None:
        self.s, self.source, self.pos, self.nodes = text, source, 0, 0
        self.comments: list[tuple[int, str]] = []  # (offset, text)
        self.starts = [0] + [m.end() for m in re.finditer("\n", text)]

    def line(self, pos: int) -> int:
        return bisect.bisect_right(self.starts, pos)

    def fail(self, what: str, pos: int | None = None) -> InputError:
        p = self.pos if pos is None else pos
        ln = self.line(p)
        col = p - self.starts[ln - 1] + 1
        return InputError(f"{self.source}: invalid JSONC at line {ln}, column {col}: {what}")

    def skip(self) -> None:
        s = self.s
        while self.pos < len(s):
            m = _WS.match(s, self.pos)
            if m:
                self.pos = m.end()
                continue
            if s.startswith("//", self.pos):
                e = s.find("\n", self.pos)
                e = len(s) if e < 0 else e
                self.comments.append((self.pos, s[self.pos + 2 : e]))
                self.pos = e
                continue
            if s.startswith("/*", self.pos):
                e = s.find("*/", self.pos + 2)
                if e < 0:
                    raise self.fail("unterminated /* comment")
                self.comments.append((self.pos, s[self.pos + 2 : e]))
                self.pos = e + 2
                continue
            return

    def value(self, depth: int) -> JNode:
        if depth > MAX_DEPTH:
            raise InputError(f"{self.source}: JSON nested more than {MAX_DEPTH} levels deep: refusing")
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise InputError(f"{self.source}: JSON holds more than {MAX_NODES} values: refusing")
        self.skip()
        s, p = self.s, self.pos
        if p >= len(s):
            raise self.fail("unexpected end of file")
        c = s[p]
        if c in "{[":
            return self.container(depth, c)
        if c == '"':
            m = _STRING.match(s, p)
            if not m:
                raise self.fail("unterminated or invalid string")
            try:
                v = json.loads(m.group(0))
            except ValueError:
                raise self.fail("invalid escape in string") from None
            self.pos = m.end()
            return JNode("string", p, m.end(), v)
        m = _NUMBER.match(s, p)
        if m and m.end() > p:
            self.pos = m.end()
            return JNode("number", p, m.end(), json.loads(m.group(0)))
        for word, v in (("true", True), ("false", False), ("null", None)):
            if s.startswith(word, p):
                self.pos = p + len(word)
                return JNode("literal", p, self.pos, v)
        raise self.fail(f"unexpected {s[p]!r}")

    def container(self, depth: int, opener: str) -> JNode:
        closer = "}" if opener == "{" else "]"
        node = JNode("object" if opener == "{" else "array", self.pos, self.pos)
        self.pos += 1
        while True:
            self.skip()
            if self.s.startswith(closer, self.pos):
                break
            if node.elems and node.elems[-1].comma is None:
                raise self.fail(f"expected ',' or {closer!r}")
            if opener == "{":
                k = self.value(depth + 1)
                if k.kind != "string":
                    raise self.fail("expected a string key", k.start)
                self.skip()
                if not self.s.startswith(":", self.pos):
                    raise self.fail("expected ':'")
                self.pos += 1
                v = self.value(depth + 1)
                elem = JNode("member", k.start, v.end, key=k.value, val=v)
            else:
                elem = self.value(depth + 1)
            node.elems.append(elem)
            self.skip()
            if self.s.startswith(",", self.pos):
                elem.comma = self.pos
                self.pos += 1  # a trailing comma before the closer is JSONC
            elif not self.s.startswith(closer, self.pos):
                raise self.fail(f"expected ',' or {closer!r}")
        self.pos += 1
        node.end = self.pos
        return node


def parse_jsonc(text: str, source: str) -> tuple[JNode, _Parser]:
    p = _Parser(text, source)
    try:
        root = p.value(0)
    except RecursionError:
        raise InputError(f"{source}: JSON nested too deeply: refusing") from None
    p.skip()
    if p.pos != len(text):
        raise p.fail("text after the JSON value")
    return root, p


# --- devcontainer.json -> Service ----------------------------------------------------------------

# devcontainers/cli src/spec-common/variableSubstitution.ts: `${localEnv:NAME}` (older spelling
# `${env:NAME}`) is the host's environment, `${containerEnv:NAME}` the container's, and a third
# ':' part is the default, used when NAME is unset (lookupValue). The model reads a reference the
# way the shell front-end reads `${NAME-default}` (dockerrun._subst with no assignment): the
# default where one is given, else `${NAME}`, a value the rules know comes from the environment.
# The file keeps its own text. `${localWorkspaceFolder}` and the like are already that shape.
_DEV_VAR = re.compile(r"\$\{(?:localEnv|env|containerEnv):([^:}]+)(?::([^:}]*))?[^}]*\}")


def resolve_vars(value: str) -> str:
    """A devcontainer.json string as the model reads it: each environment reference resolved to its
    default, or written `${NAME}` where it has none. A reference ends at a `}`: each `${localEnv:` after the value's
    last `}` went over the rest of the value looking for one (a 64 KiB value of `${localEnv: ` repeated took 25 s,
    gsafe47), and a `}` in front of them made no difference; a reference's own `}` is the first after it."""
    out: list[str] = []
    pos = 0
    close = -1
    while True:
        start = value.find("${", pos)
        if start < 0:
            break
        if close < start:  # the first `}` after this reference (one found for an earlier one may still be it)
            close = value.find("}", start)
            if close < 0:
                break
        m = _DEV_VAR.match(value, start, close + 1)
        if m is None:
            out.append(value[pos : start + 2])
            pos = start + 2
            continue
        out.append(value[pos:start])
        out.append(f"${{{m.group(1)}}}" if m.group(2) is None else m.group(2))
        pos = m.end()
    out.append(value[pos:])
    return "".join(out)


_GLUED = re.compile(r"^(--[A-Za-z0-9][\w.-]*)[ \t]+\S")
# Where a token of the run argv came from: ("runArgs", item, token-in-item) or (property, item|key)
Origin = tuple[Any, ...]


def _words(item: str) -> list[str]:
    """A glued runArgs item's words as a shell would split them (blanks, when its quotes are unbalanced)."""
    try:
        return shlex.split(item)
    except ValueError:
        return item.split()


def glued_fix(item: str) -> list[str] | None:
    """`--gpus all` (a long flag, blanks, more): the argv items the CLI reads instead; None when
    the item is a flag alone or `--flag=value` (`--label=a b` is fine: the value holds a blank)."""
    if not _GLUED.match(item):
        return None
    words = _words(item)
    if len(words) == 2 and words[0] not in RUN_BOOL_FLAGS and not words[1].startswith("-"):
        return [f"{words[0]}={words[1]}"]
    return words


@dataclass
class DevDoc:
    """A parsed devcontainer.json and the edits made to it so far."""

    text: str
    root: JNode
    parser: _Parser
    run: RunCommand
    origins: list[Origin]
    item_tokens: dict[int, list[str]]  # runArgs item -> its argv words (2+ for a glued item)
    compose: bool
    notes: list[str] = field(default_factory=list)
    stray: list[str] = field(default_factory=list)  # runArgs words that are no flag: not edited
    # edits so far: node -> replacement texts (JSON, one per element; [] removes it)
    replaced: dict[int, list[str]] = field(default_factory=dict)
    token_text: dict[tuple[int, int], str | None] = field(default_factory=dict)  # runArgs (item, word)
    split: dict[int, list[str]] = field(default_factory=dict)  # runArgs item -> SplitArgument's items
    added: dict[str, list[str]] = field(default_factory=dict)  # property -> new elements (JSON)
    nodes: dict[int, JNode] = field(default_factory=dict)
    service: Service | None = None

    def prop(self, key: str) -> JNode | None:
        m = self.root.get(key)
        return m.val if m is not None else None


def _desc(n: JNode) -> str:
    return {"string": "a string", "number": "a number", "object": "an object", "array": "an array"}.get(
        n.kind, json.dumps(n.value)
    )


def _type_error(p: _Parser, key: str, n: JNode, want: str) -> InputError:
    return InputError(f'{p.source}: line {p.line(n.start)}: "{key}" must be {want}, not {_desc(n)}')


def _strings(p: _Parser, key: str, n: JNode) -> list[JNode]:
    if n.kind != "array":
        raise _type_error(p, key, n, "an array of strings")
    for i, e in enumerate(n.elems):
        if e.kind != "string":
            raise _type_error(p, f"{key}[{i}]", e, "a string")
    return n.elems


def _read(text: str, source: str) -> DevDoc:
    root, p = parse_jsonc(text, source)
    if root.kind != "object":
        raise InputError(f"{source}: a devcontainer.json must hold a JSON object, not {_desc(root)}")
    notes: list[str] = []
    tokens: list[str] = []
    origins: list[Origin] = []
    flags_before: list[Flag] = []
    flags_after: list[Flag] = []
    lines: dict[str, int] = {}

    def add(bucket: list[Flag], name: str, value: str | None, origin: Origin, node: JNode) -> None:
        i = len(tokens)
        tokens.append(name)
        origins.append(origin)
        if value is not None:
            tokens.append(value)
            origins.append(origin)
        value = None if value is None else resolve_vars(value)
        bucket.append(Flag(name, value, i, len(tokens)))
        _line_words(lines, name, value, p.line(node.start))

    def member(key: str) -> JNode | None:
        m = root.get(key)
        return m.val if m is not None else None

    def boolean(key: str) -> bool:
        n = member(key)
        if n is not None and not (n.kind == "literal" and isinstance(n.value, bool)):
            raise _type_error(p, key, n, "true or false")
        return bool(n is not None and n.value)

    def string(key: str) -> str | None:
        n = member(key)
        if n is not None and n.kind != "string":
            raise _type_error(p, key, n, "a string")
        return n.value if n is not None else None

    image = string("image")
    build = member("build")
    if build is not None and build.kind != "object":
        raise _type_error(p, "build", build, "an object")
    dockerfile = string("dockerFile") or string("dockerfile")
    if build is not None:
        bf = build.get("dockerfile")
        if bf is not None and bf.val is not None:
            if bf.val.kind != "string":
                raise _type_error(p, "build.dockerfile", bf.val, "a string")
            dockerfile = bf.val.value
    compose_n = member("dockerComposeFile")
    compose = compose_n is not None
    if compose_n is not None:
        if compose_n.kind == "string":
            files = [compose_n.value]
        else:
            files = [e.value for e in _strings(p, "dockerComposeFile", compose_n)]
        svc_name = string("service")
        notes.append(
            f"line {p.line(compose_n.start)}: the container is service {svc_name!r} of "
            f"{', '.join(files) or 'no compose file'} (paths relative to this file): audit "
            f"{'them' if len(files) > 1 else 'it'} as a compose file (`tpdoctor audit <file>`); not "
            "followed from here. Read here: what the devcontainer CLI adds to that service "
            "(privileged, capAdd, securityOpt, init, mounts, containerEnv, hostRequirements.gpu)"
        )
    # devcontainers/cli singleContainer.ts spawnDevContainer: mounts, containerEnv, containerUser
    # come before runArgs in the argv; hostRequirements.gpu, init, privileged, capAdd, securityOpt after
    mounts = member("mounts")
    if mounts is not None:
        if mounts.kind != "array":
            raise _type_error(p, "mounts", mounts, "an array of strings and mount objects")
        for j, m in enumerate(mounts.elems):
            add(flags_before, "--mount", _mount(p, m), ("mounts", j), m)
    for env_key in ("containerEnv", "remoteEnv"):
        env = member(env_key)
        if env is None:
            continue
        if env.kind != "object":
            raise _type_error(p, env_key, env, "an object of strings")
        for m in env.elems:
            v = m.val
            assert v is not None
            if v.kind == "literal" and v.value is None and env_key == "remoteEnv":
                continue  # remoteEnv null: unset
            if v.kind == "string":
                value = v.value
            elif v.kind == "number" or (v.kind == "literal" and isinstance(v.value, bool)):
                value = json.dumps(v.value)  # the CLI writes `${key}=${value}`
            else:
                raise _type_error(p, f"{env_key}.{m.key}", v, "a string")
            add(flags_before, "-e", f"{m.key}={value}", (env_key, m.key), m)
    user = string("containerUser")
    if user is not None:
        n = member("containerUser")
        assert n is not None
        add(flags_before, "-u", user, ("containerUser",), n)
    run_args = member("runArgs")
    item_tokens: dict[int, list[str]] = {}
    glued: dict[str, list[str]] = {}
    run_flags: list[Flag] = []
    stray: list[str] = []
    if run_args is not None:
        items = _strings(p, "runArgs", run_args)
        if compose:
            notes.append(
                f"line {p.line(run_args.start)}: runArgs is not read for a compose-based dev container "
                "(devcontainers/cli src/spec-node/dockerCompose.ts): put these settings in the compose "
                "service"
            )
        else:
            base = len(tokens)
            rtoks: list[str] = []
            for i, it in enumerate(items):
                fix = glued_fix(it.value)
                words = it.value
                if fix is not None:
                    glued[it.value] = fix
                    lines[f"runArgs {it.value}"] = p.line(it.start)
                    split_words = _words(words)
                else:
                    split_words = [words]
                item_tokens[i] = split_words
                for w, word in enumerate(split_words):
                    rtoks.append(word)
                    origins.append(("runArgs", i, w))
            tokens.extend(rtoks)
            parsed, stop = parse_flags(rtoks, 0)
            while stop < len(rtoks):  # a word that is no flag: said, and the flags after it still read
                it = items[origins[base + stop][1]]
                stray.append(
                    f"line {p.line(it.start)}: runArgs item {rtoks[stop]!r} is not a flag: docker takes it "
                    "for the image name and the rest for the command"
                )
                more, stop = parse_flags(rtoks, stop + 1)
                parsed += more
            for f in parsed:
                if f.end > len(rtoks):  # a value flag last: it eats the next word the CLI adds
                    it = items[origins[base + f.start][1]]
                    stray.append(
                        f"line {p.line(it.start)}: runArgs ends with {f.name} without its value: it takes "
                        "the next argument the devcontainer CLI adds"
                    )
                    continue
                value = None if f.value is None else resolve_vars(f.value)
                f2 = Flag(f.name, value, f.start + base, f.end + base)
                run_flags.append(f2)
                first = items[origins[f2.start][1]]
                _line_words(lines, f.name, value, p.line(first.start))
    hr = member("hostRequirements")
    if hr is not None:
        if hr.kind != "object":
            raise _type_error(p, "hostRequirements", hr, "an object")
        gpu = hr.get("gpu")
        if gpu is not None and gpu.val is not None:
            g = gpu.val
            ok = (g.kind == "literal" and isinstance(g.value, bool)) or (
                g.kind == "string" and g.value == "optional"
            ) or g.kind == "object"
            if not ok:
                raise _type_error(p, "hostRequirements.gpu", g, 'true, false, "optional" or an object')
            if (g.kind == "object" or g.value) and compose:
                # dockerCompose.ts: a `capabilities: [gpu]` reservation in the override file; the
                # service's own settings (shm_size, devices) are in the compose file, not here: the
                # container is not taken for a GPU one, so nothing is reported missing from it
                notes[0] += (
                    f"; hostRequirements.gpu (line {p.line(gpu.start)}) adds a GPU reservation to that "
                    "service, whose /dev/shm, devices and groups the compose file sets"
                )
            elif g.kind == "object" or g.value:
                # utils.ts checkDockerSupportForGPU: `--gpus all` when `docker info` lists the nvidia runtime
                add(flags_after, "--gpus", "all", ("hostRequirements",), gpu)
    if boolean("init"):
        n = member("init")
        assert n is not None
        add(flags_after, "--init", None, ("init",), n)
    if boolean("privileged"):
        n = member("privileged")
        assert n is not None
        add(flags_after, "--privileged", None, ("privileged",), n)
    for key, flag in (("capAdd", "--cap-add"), ("securityOpt", "--security-opt")):
        n = member(key)
        if n is not None:
            for j, e in enumerate(_strings(p, key, n)):
                add(flags_after, flag, e.value, (key, j), e)
    features = member("features")
    if features is not None and features.kind == "object" and features.elems:
        names = ", ".join(m.key for m in features.elems)
        notes.append(
            f"line {p.line(features.start)}: features ({names[:200]}) may add privileged, capAdd, "
            "securityOpt, mounts or containerEnv of their own (their devcontainer-feature.json; "
            "docker-in-docker sets privileged): not read"
        )
    run = RunCommand(
        engine="docker",
        prefix=[],
        flags=[*flags_before, *run_flags, *flags_after],
        image=image,
        args=[],
        tokens=tokens,
        start_line=1,
        end_line=0,
        raw_tokens=tokens,
    )
    doc = DevDoc(text, root, p, run, origins, item_tokens, compose, [*notes, *stray], stray)
    svc = run_to_service(run, 0, [])
    svc.name = "devcontainer"
    svc.image = image or (f"(built from {dockerfile})" if dockerfile else None)
    title = root.get("name")
    if title is not None and title.val is not None and title.val.kind == "string" and isinstance(title.val.value, str):
        svc.extra["title"] = title.val.value[:200]  # what the file calls the container ("PyTorch - CUDA")
    svc.line = p.line(root.start)
    svc.lines = lines
    svc.glued_args = glued
    allows: dict[str, str] = {}
    for _off, body in p.comments:
        hit = re.search(r"tpdoctor:\s*allow\s+(?P<body>.+)", body.replace("\n", " "))
        if hit:
            a, problems = parse_allow_body(hit.group("body"))
            allows.update(a)
            svc.notes.extend(problems)
    svc.allows = allows
    doc.service = svc
    return doc


def _mount(p: _Parser, m: JNode) -> str:
    """A mounts item as the CLI passes it to --mount (dockerfileUtils.ts generateMountCommand)."""
    if m.kind == "string":
        return str(m.value)
    if m.kind != "object":
        raise _type_error(p, "mounts[]", m, "a string or a mount object")
    parts: dict[str, str] = {}
    for k in ("type", "source", "target"):
        e = m.get(k)
        if e is not None and e.val is not None:
            if e.val.kind != "string":
                raise _type_error(p, f"mounts[].{k}", e.val, "a string")
            parts[k] = e.val.value
    src = f"src={parts['source']}," if parts.get("source") else ""
    return f"type={parts.get('type', 'bind')},{src}dst={parts.get('target', '')}"


def _line_words(lines: dict[str, int], name: str, value: str | None, line: int) -> None:
    """The words a finding's evidence uses for this setting (rules/deploy_common.py `ev`)."""
    n, v = canonical(name), value or ""
    words = {
        "--privileged": ["privileged"],
        "--ipc": ["ipc:"],
        "--pid": ["pid:"],
        "--network": ["network:"],
        "--shm-size": ["shm:"],
        "--cap-add": [normalize_cap(v)],
        "--security-opt": [v, v.replace(":", "=", 1)],
        "--device": [v.split(":")[0]],
        "--group-add": [f"group_add: {v}"],
        "--env": [v.partition("=")[0] + "="],
        "--volume": [v],
        "--mount": [v],
        "--ulimit": [v.partition("=")[0]],
        "--gpus": ["--gpus"],
    }.get(n, [])
    for w in words:
        if w and w not in lines:
            lines[w] = line


def _describe(doc: DevDoc) -> DeploymentModel:
    model = DeploymentModel(source=doc.parser.source, format="devcontainer", notes=list(doc.notes))
    assert doc.service is not None
    model.services.append(doc.service)
    return model


# --- edits ---------------------------------------------------------------------------------------

_PROPERTY_OF = {"cap_add": "capAdd", "security_opt": "securityOpt", "env": "containerEnv"}


class DevcontainerFrontend:
    """devcontainer.json, edited in place: only the JSON elements that change are touched."""

    def parse(self, text: str, source: str) -> tuple[DeploymentModel, DevDoc]:
        doc = _read(text, source)
        return _describe(doc), doc

    def apply(self, handle: DevDoc, service: Service, edits: Sequence[TypedEdit]) -> list[str]:
        from tpdoctor.deploy.compose import spell

        if handle.stray and edits:
            return [f"{handle.stray[0]}: runArgs left as written"]
        refused: list[str] = []
        ops: list[tuple[str, ...]] = []
        saved = (dict(handle.replaced), dict(handle.token_text), dict(handle.split), dict(handle.nodes))
        for e in edits:
            if isinstance(e, SplitArgument):
                for i, words in handle.item_tokens.items():
                    run_args = handle.prop("runArgs")
                    if run_args is not None and run_args.elems[i].value == e.item and len(words) > 1:
                        handle.split[i] = list(e.replacement)
                continue
            got = None if isinstance(e, SetEntrypoint) else spell(service, e)
            if got is None:
                refused.append(unsupported(service, e))
            else:
                ops += got
        live = list(handle.run.flags)
        pending: list[tuple[str, str | None, str]] = []  # (flag, value, where) to add
        for op in ops:
            kind, fld = op[0], op[1]
            if kind == "gpu_reservation_count":
                continue
            if kind == "gpu_reservation":
                if not any(f.name == "--gpus" for f in live) and not any(a[0] == "--gpus" for a in pending):
                    pending.append(("--gpus", op[2], "runArgs"))
                continue
            flag = FLAG_OF[fld]
            same = flag_spellings(flag)
            hit = [f for f in live if f.name in same]
            if kind not in ("unset", "set"):
                hit = [f for f in hit if op[2] in written_values(handle.run, f)]
            if kind in ("unset", "list_remove"):
                for f in hit:
                    why = self._remove(handle, f)
                    if why:
                        refused.append(why)
                    else:
                        live.remove(f)
                if kind == "list_remove":
                    pending = [a for a in pending if not (a[0] in same and a[1] == op[2])]
            elif kind == "set":
                if hit and hit[0].value is not None:
                    why = self._revalue(handle, hit[0], op[2])
                    if why:
                        refused.append(why)
                elif not hit:
                    pending.append((flag, op[2], "runArgs"))
            elif kind == "list_add":
                if not hit and (flag, op[2], _where(fld)) not in pending:
                    pending.append((flag, op[2], _where(fld)))
            elif kind == "list_replace":
                for f in hit:
                    why = self._revalue(handle, f, op[3])
                    if why:
                        refused.append(why)
        if handle.compose and any(w == "runArgs" for _f, _v, w in pending):
            what = ", ".join(f"{f}={v}" if v else f for f, v, w in pending if w == "runArgs")
            # half a least-privilege edit (privileged off, the devices not mapped) is worse than none
            handle.replaced, handle.token_text, handle.split, handle.nodes = saved
            return [
                *refused,
                f"{what}: a compose-based dev container has no runArgs: nothing changed here; "
                "fix the compose service (tpdoctor audit --fix <compose file>)",
            ]
        for name, v, where in pending:
            if where == "runArgs":
                text = json.dumps(f"{name}={v}" if v is not None else name)
            elif where == "containerEnv":
                k, _, val = (v or "").partition("=")
                text = f"{json.dumps(k)}: {json.dumps(val)}"
            else:
                text = json.dumps(v or "")
            handle.added.setdefault(where, []).append(text)
        return refused

    def _remove(self, doc: DevDoc, f: Flag) -> str | None:
        for t in range(f.start, f.end):
            o = doc.origins[t]
            if o[0] == "runArgs":
                doc.token_text[(o[1], o[2])] = None
            else:
                node = _origin_node(doc, o)
                if node is None:
                    return f"{o[0]}: not found in the file"
                doc.replaced[id(node)] = []
                doc.nodes[id(node)] = node
        return None

    def _revalue(self, doc: DevDoc, f: Flag, new: str) -> str | None:
        o = doc.origins[f.end - 1]
        if o[0] == "runArgs":
            if f.end - f.start == 2:
                doc.token_text[(o[1], o[2])] = new
            else:  # --flag=value, -vVALUE
                word = doc.item_tokens[o[1]][o[2]]
                cut = word.index("=") + 1 if word.startswith("--") else 2
                doc.token_text[(o[1], o[2])] = word[:cut] + new
            return None
        if o[0] in ("capAdd", "securityOpt", "mounts"):  # a mounts item, string or object, becomes the new string
            node = _origin_node(doc, o)
            if node is not None:
                doc.replaced[id(node)] = [json.dumps(new)]
                doc.nodes[id(node)] = node
                return None
        return f"{o[0]}: {f.name} {f.value} cannot be rewritten in place (left as written)"

    def dump(self, handle: DevDoc) -> str:
        doc = handle
        run_args = doc.prop("runArgs")
        if run_args is not None:
            touched = {i for i, _w in doc.token_text} | set(doc.split)
            for i in touched:
                words = doc.item_tokens[i]
                if i in doc.split and not any(k[0] == i for k in doc.token_text):
                    out = doc.split[i]
                else:
                    got = [doc.token_text.get((i, w), word) for w, word in enumerate(words)]
                    out = [x for x in got if x is not None]
                    if len(words) > 1:  # a glued item: the words it meant, pairs joined with '='
                        out = glued_fix(" ".join(shlex.quote(x) for x in out)) or out
                node = run_args.elems[i]
                doc.replaced[id(node)] = [json.dumps(x) for x in out]
                doc.nodes[id(node)] = node
        for m in doc.root.elems:  # a list property the fix empties goes as a whole
            v = m.val
            if (
                v is not None
                and v.kind == "array"
                and v.elems
                and all(doc.replaced.get(id(e)) == [] for e in v.elems)
                and not doc.added.get(m.key)
            ):
                for e in v.elems:
                    del doc.replaced[id(e)], doc.nodes[id(e)]
                doc.replaced[id(m)] = []
                doc.nodes[id(m)] = m
        edits: list[tuple[int, int, str]] = []
        # containers with a change: each gets its removals, replacements and additions at once
        containers: dict[int, tuple[JNode, list[str]]] = {}
        for node in doc.nodes.values():
            parent = _parent(doc.root, node)
            if parent is not None:
                containers.setdefault(id(parent), (parent, []))
        for where, texts in doc.added.items():
            target = doc.prop(where)
            want = "object" if where == "containerEnv" else "array"
            if target is not None and target.kind == want:
                containers.setdefault(id(target), (target, []))[1].extend(texts)
            else:  # a new property after the last one
                body = "{" + ", ".join(texts) + "}" if want == "object" else "[" + ", ".join(texts) + "]"
                containers.setdefault(id(doc.root), (doc.root, []))[1].append(f"{json.dumps(where)}: {body}")
        for _cid, (cont, adds) in containers.items():
            edits += _container_edits(doc.text, cont, doc.replaced, adds)
        return _apply(doc.text, edits)

    def notices(self, handle: DevDoc) -> list[str]:
        return list(handle.notes)


def _where(fld: str) -> str:
    return _PROPERTY_OF.get(fld, "runArgs")


def _origin_node(doc: DevDoc, o: Origin) -> JNode | None:
    """The JSON element a property origin names: a member, an array item, an env member."""
    key = o[0]
    if key in ("containerEnv", "remoteEnv"):
        env = doc.prop(key)
        return env.get(o[1]) if env is not None else None
    if len(o) > 1:
        arr = doc.prop(key)
        return arr.elems[o[1]] if arr is not None and o[1] < len(arr.elems) else None
    if key == "hostRequirements":
        hr = doc.prop(key)
        return hr.get("gpu") if hr is not None else None
    return doc.root.get(key)


def _parent(root: JNode, target: JNode) -> JNode | None:
    stack = [root]
    while stack:
        n = stack.pop()
        for e in n.elems:
            if e is target:
                return n
            child = e.val if e.kind == "member" else e
            if child is not None and child.elems:
                stack.append(child)
    return None


def _line_bounds(s: str, pos: int) -> tuple[int, int]:
    ls = s.rfind("\n", 0, pos) + 1
    le = s.find("\n", pos)
    return ls, len(s) if le < 0 else le


def _container_edits(
    s: str, cont: JNode, replaced: dict[int, list[str]], adds: list[str]
) -> list[tuple[int, int, str]]:
    """Byte edits for one array/object: removed elements with their comma (and their line when
    alone on it), replaced elements, new elements after the last one in the container's layout."""
    elems = cont.elems
    multi = bool(elems) and s.count("\n", cont.start, elems[-1].start) > 0
    indent = ""
    if elems:
        ls, _ = _line_bounds(s, elems[-1].start)
        indent = s[ls : elems[-1].start] if not s[ls : elems[-1].start].strip() else ""
    sep = (",\n" + indent) if multi else ", "
    out: list[tuple[int, int, str]] = []
    gone = [replaced.get(id(e)) == [] for e in elems]
    if adds and elems and gone[-1]:  # the last element goes, the new ones take its place
        replaced = {**replaced, id(elems[-1]): adds}
        gone[-1], adds = False, []
    kept = [i for i, g in enumerate(gone) if not g]
    for i, e in enumerate(elems):
        new = replaced.get(id(e))
        if new is None:
            continue
        if new:
            out.append((e.start, e.end, sep.join(new)))
            continue
        start, end = e.start, (e.comma + 1 if e.comma is not None else e.end)
        m = re.match(r"[ \t]*", s[end:])
        end += m.end() if m else 0
        ls, _ = _line_bounds(s, e.start)
        _, le = _line_bounds(s, end)
        alone = not s[ls : e.start].strip() and not s[end:le].strip()
        if alone:
            start, end = ls, min(le + 1, len(s))
        if e.comma is None and i == len(elems) - 1 and kept:  # the new last element loses its comma
            prev = elems[kept[-1]]
            if prev.comma is not None:
                if alone or s.count("\n", prev.comma, e.start):
                    out.append((prev.comma, prev.comma + 1, ""))
                else:
                    start = prev.comma
        out.append((start, end, ""))
    if adds:
        if not elems:
            out.append((cont.end - 1, cont.end - 1, ", ".join(adds)))
        elif not multi:  # one line: `[a, b]` -> `[a, b, new]`, a trailing comma kept
            last = elems[-1]
            if last.comma is not None:
                out.append((last.comma + 1, last.comma + 1, "".join(f" {a}," for a in adds)))
            else:
                out.append((last.end, last.end, "".join(f", {a}" for a in adds)))
        else:  # one element a line: new lines after the last, below its line comment if any
            last = elems[-1]
            anchor = last.comma + 1 if last.comma is not None else last.end
            _ls, le = _line_bounds(s, anchor)
            rest = s[anchor:le].strip()
            pos = le if not rest or rest.startswith("//") else anchor
            ls, _le = _line_bounds(s, last.start)
            lead = re.match(r"[ \t]*", s[ls:])
            ind = lead.group(0) if lead else ""
            trailing = last.comma is not None  # keep the trailing-comma style
            text = "".join(
                "\n" + ind + a + ("," if trailing or k < len(adds) - 1 else "") for k, a in enumerate(adds)
            )
            if last.comma is None:
                if pos == last.end:
                    text = "," + text
                else:
                    out.append((last.end, last.end, ","))
            out.append((pos, pos, text))
    return out


def _apply(s: str, edits: list[tuple[int, int, str]]) -> str:
    out: list[str] = []
    pos = 0
    for start, end, text in sorted(edits, key=lambda e: (e[0], e[1])):
        if start < pos:  # overlaps an earlier edit: that one wins
            continue
        out.append(s[pos:start])
        out.append(text)
        pos = end
    out.append(s[pos:])
    return "".join(out)


FRONTEND = DevcontainerFrontend()
