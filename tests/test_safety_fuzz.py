"""Issue #11: Hypothesis fuzzing of every input tpdoctor parses, through the real CLI entry
point (`tpdoctor.cli.main`, in-process for speed). The property is the same everywhere: the exit
code is 0, 2, 3 or 4 (never 1, an internal error), with no traceback.

Derandomized (the same examples on every CI run) with a bounded number of examples per target;
TPDOCTOR_FUZZ_EXAMPLES raises it for a longer local run (`TPDOCTOR_FUZZ_EXAMPLES=2000 pytest
tests/test_safety_fuzz.py`)."""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tpdoctor.cli import main

EXAMPLES = int(os.environ.get("TPDOCTOR_FUZZ_EXAMPLES", "60"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,  # wall time varies on a shared 2-core CI machine; the run is bounded by count
    derandomize=True,
    database=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.function_scoped_fixture,
        HealthCheck.data_too_large,
    ],
)
OK_CODES = {0, 2, 3, 4}


def invoke(*args: str, stdin: bytes = b"") -> tuple[int, str]:
    """Run `tpdoctor ARGS` in this process; (exit code, stdout + stderr)."""
    out, err = io.StringIO(), io.StringIO()
    saved = sys.argv, sys.stdin, sys.stdout, sys.stderr
    sys.argv = ["tpdoctor", *args]
    sys.stdin = io.TextIOWrapper(io.BytesIO(stdin))
    sys.stdout, sys.stderr = out, err
    code: Any = 0
    try:
        main()
    except SystemExit as exc:
        code = exc.code
    finally:
        sys.argv, sys.stdin, sys.stdout, sys.stderr = saved
    return (code if isinstance(code, int) else (0 if code is None else 2)), out.getvalue() + err.getvalue()


def _check(code: int, text: str, what: str) -> None:
    assert code in OK_CODES, f"{what}: exit {code}\n{text[-3000:]}"
    assert "Traceback" not in text and "internal error" not in text, f"{what}\n{text[-3000:]}"


# -- explain: bytes, gzip, encodings ---------------------------------------------------------
LOG_LINES = st.sampled_from(
    [
        b"RuntimeError: oneCCL: ze_fd_manager.cpp:158 opendir failed: could not open device directory\n",
        b"NCCL WARN Cuda failure 'out of memory'\n",
        b"torch.distributed.DistBackendError: NCCL error in: x, unhandled system error\n",
        b"Bus error (core dumped)\n",
        b"\xff\xfe\x00\x00garbage\x00\n",
        b"x" * 70000 + b"\n",
        b"\r\n",
        b"",
    ]
)


@FUZZ
@given(
    parts=st.lists(st.one_of(LOG_LINES, st.binary(max_size=300)), max_size=12),
    encoding=st.sampled_from(["raw", "gzip", "gzip-cut", "utf-16", "utf-16-be", "latin-1"]),
    fmt=st.sampled_from(["text", "json", "sarif"]),
)
def test_fuzz_explain_reader_and_scanner(
    tmp_path_factory: pytest.TempPathFactory, parts: list[bytes], encoding: str, fmt: str
) -> None:
    data = b"".join(parts)
    if encoding.startswith("gzip"):
        data = gzip.compress(data)
        if encoding == "gzip-cut" and len(data) > 12:
            data = data[: len(data) // 2] + b"\x00" * 7 + data[len(data) // 2 + 7 :]
    elif encoding == "utf-16":
        data = data.decode("latin-1").encode("utf-16")
    elif encoding == "utf-16-be":
        data = b"\xfe\xff" + data.decode("latin-1").encode("utf-16-be")
    p = tmp_path_factory.mktemp("log") / "x.log"
    p.write_bytes(data)
    _check(*invoke("explain", "--format", fmt, str(p)), f"explain {encoding}")
    _check(*invoke("explain", "-", stdin=data), "explain stdin")


# -- deploy frontends: YAML shapes with wrong types, deep nesting, shell lines ---------------
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(["all", "two", "1e11", "/dev/dri", "nvidia", "gpu", "SYS_PTRACE", "16g", "99999999999P", "9" * 400 + "g"]),
)
VALUES = st.recursive(
    SCALARS,
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=8), kids, max_size=4),
    max_leaves=12,
)
COMPOSE_KEYS = [
    "image",
    "devices",
    "cap_add",
    "cap_drop",
    "group_add",
    "tmpfs",
    "ulimits",
    "shm_size",
    "ipc",
    "privileged",
    "security_opt",
    "volumes",
    "environment",
    "command",
    "entrypoint",
    "deploy",
    "gpus",
    "runtime",
    "user",
    "network_mode",
    "pid",
    "read_only",
    "sysctls",
    "x-podman",
    "devices_cgroup_rules",
]
K8S_KEYS = ["securityContext", "resources", "volumeMounts", "env", "args", "command", "image"]
GPU_DEPLOY = {
    "resources": {"reservations": {"devices": [{"driver": "nvidia", "count": 2, "capabilities": ["gpu"]}]}}
}


@FUZZ
@given(
    fields=st.dictionaries(st.sampled_from(COMPOSE_KEYS), VALUES, max_size=6),
    gpu=st.booleans(),
    fix=st.booleans(),
)
def test_fuzz_compose_shapes(
    tmp_path_factory: pytest.TempPathFactory, fields: dict[str, Any], gpu: bool, fix: bool
) -> None:
    svc: dict[str, Any] = {"image": "x", **({"deploy": GPU_DEPLOY} if gpu else {}), **fields}
    p = tmp_path_factory.mktemp("c") / "compose.yaml"
    p.write_text(json.dumps({"services": {"a": svc}}, default=str))  # JSON is YAML
    _check(*invoke("audit", *(["--fix"] if fix else []), str(p)), json.dumps(svc, default=str)[:500])


@FUZZ
@given(
    container=st.dictionaries(st.sampled_from(K8S_KEYS), VALUES, max_size=4),
    pod=st.dictionaries(
        st.sampled_from(["securityContext", "volumes", "hostIPC", "containers"]), VALUES, max_size=2
    ),
    spec=st.one_of(st.just(None), VALUES),
)
def test_fuzz_kubernetes_shapes(
    tmp_path_factory: pytest.TempPathFactory, container: dict[str, Any], pod: dict[str, Any], spec: Any
) -> None:
    doc: dict[str, Any] = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "x"},
        "spec": spec
        if spec is not None
        else {"template": {"spec": {"containers": [{"name": "a", "image": "x", **container}], **pod}}},
    }
    p = tmp_path_factory.mktemp("k") / "k.yaml"
    p.write_text(json.dumps(doc, default=str))
    _check(*invoke("audit", "--fix", str(p)), json.dumps(doc, default=str)[:500])


SHELL_WORDS = st.sampled_from(
    [
        "docker",
        "podman",
        "run",
        "--device",
        "/dev/dri",
        "--gpus",
        "all",
        "--gpus",
        "device=0,1",
        "--cap-add",
        "SYS_PTRACE",
        "--privileged",
        "--shm-size",
        "99999999999999g",
        "--ipc=host",
        "-v",
        "/dev/dri/by-path:/dev/dri/by-path:ro",
        "\\\n",
        "'",
        '"',
        "$(x)",
        "--group-add",
        "render",
        "--tensor-parallel-size",
        "99999999999",
        "img",
        "--ulimit",
        "memlock=-1",
        "--",
    ]
)


@FUZZ
@given(words=st.lists(st.one_of(SHELL_WORDS, st.text(max_size=10)), max_size=25), fix=st.booleans())
def test_fuzz_docker_run_lines(tmp_path_factory: pytest.TempPathFactory, words: list[str], fix: bool) -> None:
    p = tmp_path_factory.mktemp("s") / "run.sh"
    p.write_text("docker run " + " ".join(words) + "\n")
    _check(*invoke("audit", *(["--fix"] if fix else []), str(p)), " ".join(words)[:500])


@FUZZ
@given(depth=st.integers(min_value=1, max_value=20000), kind=st.sampled_from(["[", "{a: ", "- "]))
def test_fuzz_deep_nesting(tmp_path_factory: pytest.TempPathFactory, depth: int, kind: str) -> None:
    close = {"[": "]", "{a: ": "}", "- ": ""}[kind]
    body = (
        kind * depth + "1" + close * depth
        if kind != "- "
        else "".join("  " * i + "- " for i in range(min(depth, 300))) + "1"
    )
    p = tmp_path_factory.mktemp("d") / "deep.yaml"
    p.write_text(
        "services:\n  a:\n    devices: " + body + "\n"
        if kind != "- "
        else "services:\n  a:\n    devices:\n" + body + "\n"
    )
    _check(*invoke("audit", str(p)), f"nesting {kind} {depth}")


# -- snapshot loading ------------------------------------------------------------------------
def _example() -> dict[str, Any]:
    from tpdoctor.facts.snapshot import dump_facts, load_example

    return json.loads(dump_facts(load_example("article")))


EXAMPLE = _example()
PATHS = [k for k in EXAMPLE if k != "schema_version"]


@FUZZ
@given(
    key=st.sampled_from(PATHS),
    value=VALUES,
    depth=st.integers(min_value=0, max_value=3000),
    compare=st.booleans(),
)
def test_fuzz_snapshot_loading(
    tmp_path_factory: pytest.TempPathFactory, key: str, value: Any, depth: int, compare: bool
) -> None:
    snap = dict(EXAMPLE)
    snap[key] = value
    text = json.dumps(snap, default=str)
    if depth:
        text = text[:-1] + ', "deep": ' + "[" * depth + "]" * depth + "}"
    p = tmp_path_factory.mktemp("snap") / "s.json"
    p.write_text(text)
    args = (
        ("check", "--compare", str(p), str(p))
        if compare
        else ("check", "--from-snapshot", str(p), "-f", "json")
    )
    _check(*invoke(*args), f"snapshot {key}={str(value)[:200]}")


# -- a host's container-engine configs (facts/engine_config.py): daemon.json, containerd, kubelet ------------------
DAEMON_KEYS = ["default-shm-size", "default-ulimits", "runtimes", "features", "cdi-spec-dirs", "default-runtime",
               "exec-opts", "log-opts", "default-cgroupns-mode"]
# go-units sizes of every length: 400 digits overflowed a float before units.py (an internal error)
GO_SIZES = st.builds(
    "".join, st.tuples(st.text("0123456789. ", min_size=1, max_size=400), st.sampled_from(["", "k", "M", "g", "P", "GiB", "b"]))
)
CONTAINERD = st.sampled_from([
    'version = 2\n[plugins."io.containerd.grpc.v1.cri"]\nenable_cdi = "yes"\n',
    'imports = [1, "/etc/containerd/conf.d/*.toml"]\n',
    'version = 3\n[plugins."io.containerd.cri.v1.runtime".containerd]\ndefault_runtime_name = 5\n',
    'disabled_plugins = "cri"\n', "version = 99\n", "[[[\n", "\x00\xff",
])


@FUZZ
@example(daemon={"default-shm-size": "9" * 400 + "g"}, containerd="version = 99\n", kubelet="- a\n")
@given(
    daemon=st.dictionaries(st.sampled_from(DAEMON_KEYS), VALUES | GO_SIZES, max_size=4),
    containerd=CONTAINERD,
    kubelet=st.sampled_from(["cgroupDriver: [1]\n", "cgroupDriver: 5\n", "- a\n", "a: [\n", "cgroupDriver: systemd\n"]),
)
def test_fuzz_engine_daemon_configs(
    tmp_path_factory: pytest.TempPathFactory, daemon: dict[str, Any], containerd: str, kubelet: str
) -> None:
    root = tmp_path_factory.mktemp("host")
    for rel, text in (("usr/bin/dockerd", ""), ("usr/bin/containerd", ""), ("usr/bin/kubelet", ""),
                      ("etc/docker/daemon.json", json.dumps(daemon, default=str)),
                      ("etc/containerd/config.toml", containerd), ("var/lib/kubelet/config.yaml", kubelet)):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    _check(*invoke("check", "--root", str(root), "-f", "json"), f"engine configs {json.dumps(daemon, default=str)[:300]}")


# -- the --write path against a filesystem full of symlinks ----------------------------------
ARTICLE = (Path(__file__).parent / "data" / "deploy" / "article-compose.yaml").read_bytes()
PLANTS = st.sampled_from(["none", "link-victim", "link-dir", "dangling", "directory", "file", "link-self"])


@FUZZ
@given(
    bak=PLANTS,
    cfg_link=st.booleans(),
    temp=st.sampled_from(["none", "stale", "link"]),
    mode=st.sampled_from([0o644, 0o600, 0o444, 0o640]),
    twice=st.booleans(),
)
def test_fuzz_write_among_symlinks(
    tmp_path_factory: pytest.TempPathFactory, bak: str, cfg_link: bool, temp: str, mode: int, twice: bool
) -> None:
    d = tmp_path_factory.mktemp("w")
    victim = d / "victim"
    victim.write_text("precious\n")
    real = d / "real.yaml"
    real.write_bytes(ARTICLE)
    os.chmod(real, mode)
    cfg = d / "c.yaml"
    if cfg_link:
        cfg.symlink_to(real)
    else:
        real.rename(cfg)
    b = d / "c.yaml.tpdoctor.bak"
    {
        "none": lambda: None,
        "link-victim": lambda: b.symlink_to(victim),
        "link-dir": lambda: b.symlink_to(d),
        "dangling": lambda: b.symlink_to(d / "nowhere"),
        "directory": lambda: b.mkdir(),
        "file": lambda: b.write_text("old backup\n"),
        "link-self": lambda: b.symlink_to(b.name),
    }[bak]()
    if temp == "stale":
        (d / ".c.yaml.tpdoctor-tmp-999999-0123abcd").write_text("half")
    elif temp == "link":
        (d / ".c.yaml.tpdoctor-tmp-999999-0123abcd").symlink_to(victim)
    args = ["audit", "--write", str(cfg)] + ([str(d / "." / "c.yaml")] if twice else [])
    code, text = invoke(*args)
    _check(code, text, f"write bak={bak} link={cfg_link} temp={temp} mode={oct(mode)} twice={twice}")
    assert victim.read_text() == "precious\n"
    target = real if cfg_link else cfg
    data = target.read_bytes()
    if data != ARTICLE:  # written: the backup holds the original, next to the file given
        assert b.read_bytes() == ARTICLE and not b.is_symlink()
    assert not cfg_link or cfg.is_symlink()
    with contextlib.suppress(OSError):
        os.chmod(target, 0o644)
