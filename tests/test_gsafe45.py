"""gsafe45: hostile-input pass (docs/security.md, ### gsafe45)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from test_safety_fuzz import _check, invoke
from tpdoctor.redact import is_secret_name, redact_line, redact_text


# -- the scheme word of an Authorization header stays, the credential goes ---------------------------------------------
def test_the_authorization_scheme_stays_visible_in_every_form() -> None:
    """`{Authorization: Bearer x}` printed `{Authorization: <redacted>}` (the key/value pass took the scheme with the
    token), while `curl -H "Authorization: Bearer x"` kept it: the scheme is no secret, the token is."""
    cases = {
        "{Authorization: Bearer Walrus77Pelican}": "{Authorization: Bearer <redacted>}",
        "Authorization: Bearer Walrus77Pelican": "Authorization: Bearer <redacted>",
        '{"Authorization": "Bearer Walrus77Pelican"}': '{"Authorization": "Bearer <redacted>"}',
        "{'Authorization': 'Bearer Walrus77Pelican'}": "{'Authorization': 'Bearer <redacted>'}",
        '{\\"Authorization\\": \\"Bearer Walrus77Pelican\\"}': '{\\"Authorization\\": \\"Bearer <redacted>\\"}',
        "Proxy-Authorization: Token Walrus77Pelican": "Proxy-Authorization: Token <redacted>",
        "AUTHORIZATION: bearer Walrus77Pelican": "AUTHORIZATION: bearer <redacted>",
        "Authorization:Bearer Walrus77Pelican": "Authorization:Bearer <redacted>",
        "  authorization: Basic dXNlcjpXYWxydXM3Nw==": "  authorization: Basic <redacted>",
        'curl -H "Authorization: Bearer Walrus77Pelican" http://h': 'curl -H "Authorization: Bearer <redacted>" http://h',
    }
    for line, want in cases.items():
        assert redact_line(line) == want, line
        assert redact_text(line + "\n") == want + "\n", line
    # a scheme alone is no secret and stays as it was
    assert redact_line("authorization: Bearer") == "authorization: Bearer"


def test_digest_and_aws4_parameters_are_all_hidden() -> None:
    """`Authorization: Digest username="a", response="…"`: the first parameter's quote ended the hidden value and
    `response="…"` (the credential) was printed."""
    for line in (
        'Authorization: Digest username="me", realm="r", nonce="n1", response="6629fae49393a05397450978507c4ef1"',
        'curl -H "Authorization: Digest username=\\"me\\", response=\\"6629fae49393a05397450978507c4ef1\\""',
    ):
        out = redact_line(line)
        assert "6629fae4" not in out and "Digest <redacted>" in out, out


def test_explain_quotes_a_header_with_its_scheme(tmp_path: Path) -> None:
    log = tmp_path / "a.log"
    log.write_text("curl failed {Authorization: Bearer Walrus77Pelican42}\nNCCL WARN Cuda failure out of memory\n")
    for args in (("explain", str(log), "--verbose"), ("explain", str(log), "--format", "json")):
        code, out = invoke(*args)
        _check(code, out, " ".join(args))
        assert "Walrus77Pelican42" not in out, out
        assert "Bearer <redacted>" in out, out


# -- secrets in forms the redactor did not know --------------------------------------------------------------------------
def test_glued_secret_names_are_secret_names() -> None:
    """`PGPASSWORD=x` (libpq), `"identitytoken": "x"` (~/.docker/config.json), `csrftoken=x`: the word glued to the
    letters before it was no secret name, and the value was printed."""
    for name in ("PGPASSWORD", "identitytoken", "registrytoken", "csrftoken", "MYAPPSECRET", "DBPASSWD"):
        assert is_secret_name(name), name
    for name in ("MONKEY", "BYPASS", "KEYBOARD", "PATH", "max_tokens", "num_tokens"):
        assert not is_secret_name(name), name
    assert redact_line("PGPASSWORD=Walrus77Pel psql -h db") == "PGPASSWORD=<redacted> psql -h db"
    assert redact_line('"identitytoken": "Walrus77Pel"') == '"identitytoken": "<redacted>"'


def test_command_line_credentials_and_netrc_are_hidden() -> None:
    cases = {
        "curl -fsSL -u me:Walrus77Pel https://x": "curl -fsSL -u me:<redacted> https://x",
        "curl --user me:Walrus77Pel https://x": "curl --user me:<redacted> https://x",
        "curl --proxy-user me:Walrus77Pel https://x": "curl --proxy-user me:<redacted> https://x",
        "docker login -u me -p Walrus77Pel registry.example": "docker login -u me -p <redacted> registry.example",
        "sshpass -p Walrus77Pel ssh h": "sshpass -p <redacted> ssh h",
        "mysql -u root -pWalrus77Pel db": "mysql -u root -p<redacted> db",
        "machine api.github.com login me password Walrus77Pel": "machine api.github.com login me password <redacted>",
        "  password Walrus77Pel": "  password <redacted>",
        "https://st.blob.core.windows.net/c/b?sv=2020-08&sig=Walrus77Pel%3D&se=1": (
            "https://st.blob.core.windows.net/c/b?sv=2020-08&sig=<redacted>&se=1"
        ),
        "NGC key nvapi-abcdefghijklmnopqrstuvwxyz012345": "NGC key <redacted>",
        "npm_abcdefghijklmnopqrstuvwxyz0123456789": "<redacted>",
    }
    for line, want in cases.items():
        assert redact_line(line) == want, line
    # what is no credential stays
    for line in (
        "mkdir -p /tmp/x",
        "mysql -u root -p db",
        "ssh -p 22 host login",
        "curl -u me https://x",
        "login failed: wrong password for machine x",
        "password required",
    ):
        assert redact_line(line) == line, line
    # a netrc file over lines keeps its line ends
    assert redact_text("machine h\n  login me\n  password Walrus77Pel\r\nnext\n") == (
        "machine h\n  login me\n  password <redacted>\r\nnext\n"
    )


# -- verify: counts without a ceiling, --plot judged only after the sweep --------------------------------------------------
class _Probed(Exception):
    pass


def _no_probe(monkeypatch: Any) -> None:
    """verify's device probe (torch, then the ranks) must not be reached: it raises instead."""
    import tpdoctor.verify.run as vrun

    def probe(*_a: Any, **_k: Any) -> Any:
        raise _Probed

    monkeypatch.setattr(vrun, "probe", probe)


def test_verify_refuses_counts_past_its_limits_before_launching(monkeypatch: Any) -> None:
    """`verify --gpus 1000000000 --backend gloo` launched ranks until it was killed (a hang; `--tp` the same), and
    `--iters 10**14` timed one size for ever: one line, exit 2, before torch and the ranks."""
    _no_probe(monkeypatch)
    for args in (
        ("--gpus", "1000000000"),
        ("--tp", "1000000000"),
        ("--iters", "99999999999999"),
        ("--warmup", "99999999999999"),
    ):
        code, out = invoke("verify", "--backend", "gloo", *args)
        assert code == 2, (args, out)
        assert "over tpdoctor's limit" in out and args[0] in out, out
        assert "Traceback" not in out


def test_verify_plot_is_judged_before_the_sweep(monkeypatch: Any, tmp_path: Path) -> None:
    """`--plot x.gif`, a missing directory, a planted link or a FIFO were found only after the whole sweep had run,
    and the error took the run's report with it; savefig(path) wrote through the link, blocked on the FIFO."""
    import importlib.util
    import os

    from tpdoctor.errors import InputError, UsageError
    from tpdoctor.verify import plot

    _no_probe(monkeypatch)
    code, out = invoke("verify", "--backend", "gloo", "--plot", str(tmp_path / "busbw.gif"))
    assert code == 2 and ".png, .svg or .pdf" in out, out

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: object() if n == "matplotlib" else real(n, *a))
    target = tmp_path / "target"
    target.write_text("keep\n")
    (tmp_path / "link.png").symlink_to(target)
    os.mkfifo(tmp_path / "fifo.png")
    os.link(target, tmp_path / "hard.png")
    for name in ("link.png", "fifo.png", "hard.png", "nodir/x.png"):
        try:
            plot.check_target(tmp_path / name)
        except (InputError, UsageError) as exc:
            assert name.split("/")[0] in str(exc)
        else:
            raise AssertionError(name)
    assert plot.check_target(tmp_path / "new.svg") == "svg"
    # the writer refuses what was planted after the check, and leaves the target as it was
    for name in ("link.png", "hard.png", "fifo.png"):
        try:
            plot.write_plot(b"PNG", tmp_path / name)
        except OSError:
            pass
        else:
            raise AssertionError(name)
    assert target.read_text() == "keep\n"
    plot.write_plot(b"PNG", tmp_path / "new.png")
    assert (tmp_path / "new.png").read_bytes() == b"PNG"


def test_timeouts_past_a_week_are_option_errors(monkeypatch: Any) -> None:
    """`verify --timeout inf` (or 1e300) reached torch's timedelta in every rank: each rank's OverflowError was
    reported as `verify.rank-failed`, a blocker of the setup (exit 3). cluster's --timeout went to Ray's waits."""
    import tpdoctor.cluster.remote as remote

    _no_probe(monkeypatch)

    def collect(*_a: Any, **_k: Any) -> Any:
        raise _Probed

    monkeypatch.setattr(remote, "collect_cluster", collect)
    monkeypatch.setattr(remote, "import_ray", lambda: None)
    for args in (
        ("verify", "--backend", "gloo", "--timeout", "inf"),
        ("verify", "--backend", "gloo", "--timeout", "1e300"),
        ("cluster", "check", "--address", "127.0.0.1:1", "--timeout", "inf"),
        ("cluster", "verify", "--address", "127.0.0.1:1", "--timeout", "1e300"),
        ("cluster", "verify", "--address", "127.0.0.1:1", "--gpus-per-node", "1000000000"),
    ):
        code, out = invoke(*args)
        assert code == 2 and "over tpdoctor's limit" in out, (args, out)


def test_cluster_snapshots_directory_is_judged_before_the_nodes(monkeypatch: Any) -> None:
    """`cluster check --snapshots /dev/null` failed only after every node had answered, and the report was lost."""
    import tpdoctor.cluster.remote as remote

    def collect(*_a: Any, **_k: Any) -> Any:
        raise _Probed

    monkeypatch.setattr(remote, "collect_cluster", collect)
    monkeypatch.setattr(remote, "import_ray", lambda: None)
    code, out = invoke("cluster", "check", "--address", "127.0.0.1:1", "--snapshots", "/dev/null")
    assert code == 2 and "--snapshots /dev/null" in out and "no directory" in out, out


# -- check --root: numbers past int()'s 4300 digits ---------------------------------------------------------------------------
_BIG = "9" * 5000
_BIG_NUMBER_FILES = {
    "proc/self/mounts": f"shm /dev/shm tmpfs rw,size={_BIG}k 0 0\n",
    "proc/meminfo": f"MemTotal: {_BIG} kB\n",
    "proc/sys/kernel/yama/ptrace_scope": f"{_BIG}\n",
    "proc/self/status": f"Name: x\nUid: 0 0 0 0\nGroups: {_BIG} 5\n",
    "etc/group": f"render:x:{_BIG}:\n",
    "sys/fs/selinux/enforce": f"{_BIG}\n",
    "proc/sys/kernel/overflowgid": f"{_BIG}\n",
    "proc/driver/nvidia/gpus/0000:01:00.0/information": f"Model: X\nDevice Minor: {_BIG}\n",
}


def test_check_root_with_numbers_past_int_s_limit(tmp_path: Path) -> None:
    """A 5000-digit number in any of these files of a --root tree: `ValueError: Exceeds the limit (4300 digits) for
    integer string conversion`, an internal error (exit 1). Each is now no value (at most 18 digits, as elsewhere)."""
    for i, (name, text) in enumerate(_BIG_NUMBER_FILES.items()):
        root = tmp_path / f"r{i}"
        (root / "dev/shm").mkdir(parents=True)
        (root / "proc/self").mkdir(parents=True)
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        code, out = invoke("check", "--root", str(root), "--format", "json")
        _check(code, out, name)
        assert _BIG[:100] not in out, name


# -- explain: CR-only line ends, compressions it does not undo --------------------------------------------------------------
_ONECCL = "RuntimeError: oneCCL: ze_fd_manager.cpp:158 opendir failed: could not open device directory"


def test_explain_reads_a_log_whose_lines_end_in_cr(tmp_path: Path) -> None:
    """Lines ended by a lone CR were one line, cut at 64 KiB: an error past it was never read (exit 0, `read 1
    lines`). They are lines now, the error found, CR LF still one line end."""
    lines = [f"INFO step {i} loss 1.0" for i in range(5000)] + [_ONECCL, "INFO after"]
    log = tmp_path / "cr.log"
    log.write_bytes("\r".join(lines).encode() + b"\r")
    code, out = invoke("explain", str(log))
    assert code == 3 and "oneccl.bypath-missing" in out, out[-2000:]
    assert "read 5002 lines" in out and "carriage return" in out, out[-2000:]
    # a CR LF past the head (which decides) is one line end, not two
    head = "\r".join(f"INFO {i}" for i in range(3000)) + "\r"
    log.write_bytes(head.encode() + b"c\r\nd\r" + _ONECCL.encode() + b"\r")
    code, out = invoke("explain", str(log))
    assert code == 3 and "read 3003 lines" in out, out[-2000:]


def test_explain_refuses_compressions_it_does_not_undo(tmp_path: Path) -> None:
    """An xz, bzip2 or zstd log was read as one binary line and "explained" as nothing (exit 0): one line naming the
    way to read it, exit 2."""
    import bz2
    import lzma

    text = (_ONECCL + "\n").encode()
    for name, data in (
        ("a.log.xz", lzma.compress(text)),
        ("a.log.bz2", bz2.compress(text)),
        ("a.log.zst", b"\x28\xb5\x2f\xfd" + b"\x00" * 40),
    ):
        path = tmp_path / name
        path.write_bytes(data)
        code, out = invoke("explain", str(path))
        assert code == 2 and "-compressed" in out and "-dc FILE | tpdoctor explain -" in out, (name, out)
        assert "Traceback" not in out


# -- snapshots: C1 and bidi controls of names under --root -------------------------------------------------------------------
def test_a_snapshot_writes_c1_and_bidi_controls_as_escapes(tmp_path: Path) -> None:
    """`check --root --snapshot` wrote a device or file name holding U+202E (or U+009B, an 8-bit CSI) raw into the JSON
    (ensure_ascii=False): `cat snapshot.json` reordered or drove the terminal. They are \\u escapes now; the name reads
    back the same."""
    import json

    from tpdoctor.facts.snapshot import dump_facts, parse_snapshot
    from tpdoctor.model.facts import Facts

    name = "/dev/dri/renderD129\u202e\u009b31m\u2066x\u2028é"
    facts = Facts(root="/")
    facts.errors.append(f"{name}: unreadable")
    text = dump_facts(facts)
    for ch in "\u202e\u009b\u2066\u2028":
        assert ch not in text, repr(ch)
    assert "é" in text  # readable names stay readable
    assert json.loads(text)["errors"] == [f"{name}: unreadable"]
    assert parse_snapshot(text, "s.json").errors == [f"{name}: unreadable"]


# -- audit: a template that happens to be YAML -----------------------------------------------------------------------------
def test_a_template_that_parses_as_yaml_is_refused_as_a_template(tmp_path: Path) -> None:
    """`name: {{ include "x.fullname" . }}` is YAML (a flow mapping keyed by a flow mapping): a chart's source was
    audited as a manifest, blockers for `metadata.name: {} is an object` with the key printed as Python's
    `{ordereddict([('include "x.fullname" .', None)]): None}`; a compose `image: {{ .Values.image }}` was "degraded".
    Both are one line naming the template, exit 2."""
    chart = tmp_path / "deployment.yaml"
    chart.write_text(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ include \"x.fullname\" . }}\nspec:\n"
        "  template:\n    spec:\n      containers:\n      - name: v\n        image: \"{{ .Values.image }}\"\n"
        "        securityContext:\n          privileged: {{ .Values.priv }}\n"
    )
    compose = tmp_path / "compose.yaml"
    compose.write_text("services:\n  v:\n    image: {{ .Values.image }}\n    privileged: true\n")
    for path in (chart, compose):
        for args in (("audit", str(path)), ("audit", "--fix", str(path)), ("audit", str(path), "--format", "json")):
            code, out = invoke(*args)
            assert code == 2, (args, out)
            assert "render it first" in out and "ordereddict" not in out, (args, out)
    # a quoted template value is a string, and a file without template actions is read as before
    plain = tmp_path / "plain.yaml"
    plain.write_text("services:\n  v:\n    image: \"{{ .Values.image }}\"\n    privileged: true\n")
    code, out = invoke("audit", str(plain))
    _check(code, out, "quoted template")
    assert "render it first" not in out


# -- audit --fix: a Kubernetes Secret's values in the diff's context lines ---------------------------------------------------
_POD = (
    "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers:\n  - name: c\n    image: vllm/vllm-openai\n"
    '    args: ["--tensor-parallel-size", "2"]\n    securityContext:\n      privileged: true\n'
)


def test_a_fix_diff_hides_the_values_of_a_secret_beside_the_workload(tmp_path: Path) -> None:
    """A Secret's `data:`/`stringData:` keys are file names (`hf`, `.dockerconfigjson`), no secret names: a Secret
    written in flow style right after the fixed Pod was printed whole in the diff's context lines."""
    path = tmp_path / "k.yaml"
    path.write_text(
        _POD + "---\n{apiVersion: v1, kind: Secret, metadata: {name: s}, stringData: {hf: Walrus77PelicanSecret},"
        " data: {b: V2FscnVzNzdQZWxpY2Fu}}\n"
    )
    for fmt in ("text", "json", "sarif"):
        code, out = invoke("audit", "--fix", str(path), "--format", fmt)
        _check(code, out, f"audit --fix {fmt}")
        assert "Walrus77PelicanSecret" not in out and "V2FscnVzNzdQZWxpY2Fu" not in out, out
    code, out = invoke("audit", "--fix", str(path))
    assert "stringData: {hf: <redacted>}, data: {b: <redacted>}}" in out, out
    # a PEM key written over lines under stringData, right before the Pod (one flow line)
    path.write_text(
        "apiVersion: v1\nkind: Secret\nmetadata: {name: t}\nstringData:\n  tls.pem: |\n"
        "    MIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n    QuokkaLanternWalrusPelican4242\n---\n"
        "{apiVersion: v1, kind: Pod, metadata: {name: p}, spec: {containers: [{name: c, image: vllm/vllm-openai,"
        " securityContext: {privileged: true}}]}}\n"
    )
    code, out = invoke("audit", "--fix", str(path))
    _check(code, out, "audit --fix pem")
    assert "QuokkaLanternWalrusPelican4242" not in out and "MIIEvQIBADAN" not in out, out
    assert "-{apiVersion: v1, kind: Pod" in out and "   <redacted>\n" in out, out  # the context holds the PEM


# -- output files: a file another user planted in a sticky shared directory ---------------------------------------------------
def test_an_output_file_planted_by_another_user_in_a_sticky_directory_is_refused(tmp_path: Path) -> None:
    """Where fs.protected_regular is 0, root wrote `check --snapshot /tmp/r.json` (or an --explain-log, 0600 when
    tpdoctor makes it) into a file `nobody` had planted there, who then read it. The kernel's rule, kept always."""
    import os

    import pytest

    from tpdoctor.safewrite import write_output_file

    if os.geteuid() != 0:
        pytest.skip("needs root to plant a file of another user")
    shared = tmp_path / "tmp"
    shared.mkdir()
    shared.chmod(0o1777)
    planted = shared / "r.json"
    planted.write_text("keep\n")
    os.chown(planted, 65534, 65534)
    try:
        write_output_file(planted, "report\n")
    except OSError as exc:
        assert "sticky" in str(exc)
    else:
        raise AssertionError("written into a planted file")
    assert planted.read_text() == "keep\n"
    code, out = invoke("check", "--example", "article", "--snapshot", str(planted))
    assert code == 2 and "not written into" in out, out
    # the writer's own file, and a new one, are written as before
    mine = shared / "mine.json"
    write_output_file(mine, "a\n")
    write_output_file(mine, "b\n")
    assert mine.read_text() == "b\n"


# -- explain: the kernel's consuming files ----------------------------------------------------------------------------------
def test_explain_refuses_proc_kmsg(tmp_path: Path) -> None:
    """`explain /proc/kmsg` as root waited for new kernel messages for ever (size 0, read to its end) and took each one
    it read from the system logger. Refused by what the descriptor resolves to (`kmsg`, `trace_pipe`) and its size."""
    import os
    import subprocess
    import sys

    fake = tmp_path / "kmsg"  # the same name and size: read as an empty log before, without the real one's harm
    fake.write_bytes(b"")
    code, out = invoke("explain", str(fake))
    assert code == 2 and "message buffer" in out, out
    code, out = invoke("explain", str(tmp_path / "kmsg"), stdin=b"")
    assert code == 2, out
    if os.access("/proc/kmsg", os.R_OK):
        src = str(Path(__file__).resolve().parents[1] / "src")
        done = subprocess.run(
            [sys.executable, "-m", "tpdoctor", "explain", "/proc/kmsg"],
            env={**os.environ, "PYTHONPATH": src},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 2 and "message buffer" in done.stderr, done.stderr


# -- cluster tables: what a node reports is text, not rich markup -------------------------------------------------------------
def test_cluster_tables_print_node_values_as_text() -> None:
    """A node IP, id or interface name holding `[/]` (a valid Linux interface name) raised rich's MarkupError in
    `cluster check`/`cluster verify`'s table (exit 1); `[link=…]` and `[blink]` styled it; ESC reached the terminal."""
    import io
    from types import SimpleNamespace

    from tpdoctor.cluster import report, verify_report

    hostile = "10.0.0.1[/][bold red]FAKE\x1b]0;PWN\x07\u202e"
    check_row = {
        "index": 0, "ip": hostile, "node_id": "[link=http://x]ab", "status": "ok", "backend": "[blink]cuda",
        "gpus": 2, "tp": 2, "blocker": 0, "degraded": 0,
    }
    verify_row = {
        "index": 0, "ip": hostile, "node_id": "[/]", "ray_iface": "[/]", "mtu": 1500, "virtual": False,
        "speed_mbps": None, "head": True, "link_gbps": None, "pair_ok": None, "backend_ifaces": ["[/]x"],
        "status": "described",
    }
    for module, row in ((report, check_row), (verify_report, verify_row)):
        buf = io.StringIO()
        module.print_table(SimpleNamespace(facts={"nodes": [row]}), buf)  # type: ignore[arg-type]
        out = buf.getvalue()
        assert "[/][bold red]FAKE" in out and "\x1b" not in out and "\u202e" not in out, out


def test_verify_table_prints_environment_values_as_text() -> None:
    """verify's table printed a steering variable's value as rich markup after the whole sweep: `NCCL_P2P_DISABLE='[/]'`
    raised MarkupError (exit 1, the report lost); a 5000-digit NCCL_MAX_NCHANNELS made int() raise in env_causes."""
    import io

    from tpdoctor.verify.envcause import env_causes
    from tpdoctor.verify.results import TransportInfo, VerifyResult
    from tpdoctor.verify.table import render_table

    env = {"NCCL_P2P_DISABLE": "[/][link=http://x]1\x1b]0;t\x07", "NCCL_MAX_NCHANNELS": "9" * 5000}
    causes = env_causes(env, "nccl", TransportInfo(backend="nccl", coll_channels=4))
    assert {c.name for c in causes} >= {"NCCL_P2P_DISABLE"}
    res = VerifyResult(backend="nccl", device="cuda", world_size=2, dtype="bf16", quick=True, env_causes=causes)
    buf = io.StringIO()
    render_table(res, {}, buf)
    out = buf.getvalue()
    assert "NCCL_P2P_DISABLE=[/][link=http://x]1" in out and "\x1b" not in out, out


# -- explain: numbers past int()'s 4300 digits in a log line -----------------------------------------------------------------
def test_explain_reads_numbers_past_int_s_limit(tmp_path: Path) -> None:
    """`Received signal 999…9` (5000 digits), an exit code or a rank of that size: the death reader's int() raised
    `Exceeds the limit (4300 digits)`, an internal error (exit 1). A captured number is cut to 40 digits."""
    big = "9" * 5000
    log = tmp_path / "big.log"
    log.write_text(
        f"Received signal {big}\n"
        f"ERROR:torch.distributed.elastic.multiprocessing.api:failed (exitcode: -{big}) local_rank: 0 (pid: {big})\n"
        f"mpirun noticed that process rank {big} with PID {big} on node n exited on signal {big} (Bus error).\n"
        f"  traceback : Signal {big} (SIGBUS) received by PID {big}\n"
        f"vllm serve m --tensor-parallel-size {big}\n"
    )
    for fmt in ("text", "json", "sarif"):
        code, out = invoke("explain", str(log), "--format", fmt)
        _check(code, out, f"explain {fmt}")
