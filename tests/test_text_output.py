"""The text a person reads: the verdict first, one best fix per finding for the detected runtime."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import run_cli
from fakeroot import article_root
from tpdoctor.model import Evidence, Report, make_finding
from tpdoctor.render.text import escape, plain, render_lines, verdict


def test_article_fits_on_one_screen_with_the_verdict_first(tmp_path: Path) -> None:
    r = run_cli("check", "--example", "article", "--tp", "2", cwd=tmp_path)
    assert r.returncode == 3, r.stderr
    lines = r.stdout.splitlines()
    assert len(lines) <= 40, r.stdout
    assert lines[0] == "TP=2 will fail: /dev/dri/by-path/ does not exist in this container"
    # docker (the example is a Docker container): docker run flags, no compose keys, no privileged
    assert "-v /dev/dri/by-path:/dev/dri/by-path:ro" in r.stdout
    assert "volumes:" not in r.stdout and "UNSAFE" not in r.stdout


def test_the_fix_for_the_observed_reason_comes_first(tmp_path: Path) -> None:
    """seccomp without CAP_SYS_PTRACE makes the pidfd self-test fail: SYS_PTRACE, not /tmp."""
    r = run_cli("check", "--example", "article", "--tp", "2", cwd=tmp_path)
    block = r.stdout.split("DEGRADED oneccl.pidfd-unsupported", 1)[1].split("\n\n", 1)[0]
    assert "--cap-add SYS_PTRACE" in block and "--tmpfs /tmp" not in block
    data = json.loads(run_cli("check", "--example", "article", "--tp", "2", "-f", "json").stdout)
    pidfd = next(f for f in data["findings"] if f["cause"] == "oneccl.pidfd-unsupported")
    assert pidfd["fixes"][0]["id"] == "pidfd-sys-ptrace"
    assert {x["id"] for x in pidfd["fixes"]} == {"pidfd-sys-ptrace", "writable-tmp"}  # JSON keeps all


def test_a_readonly_tmp_puts_the_tmp_fix_first(tmp_path: Path) -> None:
    fr = article_root(tmp_path).set_status(capeff=(1 << 41) - 1, seccomp=0)  # seccomp not the reason
    (fr.root / "tmp").chmod(0o555)
    fr.readonly_root()
    data = json.loads(run_cli("check", "--root", str(fr.root), "--tp", "2", "-f", "json").stdout)
    pidfd = [f for f in data["findings"] if f["cause"] == "oneccl.pidfd-unsupported"]
    assert pidfd and pidfd[0]["fixes"][0]["id"] == "writable-tmp", pidfd


def test_a_compose_file_here_means_compose_fixes(tmp_path: Path) -> None:
    root = article_root(tmp_path / "r").root
    project = tmp_path / "project"
    project.mkdir()
    (project / "compose.yaml").write_text("services: {}\n")
    here = run_cli("check", "--root", str(root), "--tp", "2", cwd=project)
    assert "fixes for compose" in here.stdout and '- "/dev/dri/by-path:/dev/dri/by-path:ro"' in here.stdout
    elsewhere = run_cli("check", "--root", str(root), "--tp", "2", cwd=tmp_path)
    assert "fixes for docker run" in elsewhere.stdout


def test_runtime_all_and_verbose_show_everything(tmp_path: Path) -> None:
    short = run_cli("check", "--example", "article", "--tp", "2", cwd=tmp_path).stdout
    for flag in ("--verbose", "--runtime=all"):
        full = run_cli("check", "--example", "article", "--tp", "2", flag, cwd=tmp_path).stdout
        assert full.splitlines()[0] == short.splitlines()[0]
        assert "privileged: true" in full and "kubernetes:" in full and "podman run:" in full
        assert len(full.splitlines()) > 3 * len(short.splitlines())
    k8s = run_cli("check", "--example", "article", "--tp", "2", "-r", "kubernetes", cwd=tmp_path).stdout
    assert "gpu.intel.com/i915" in k8s and "--device" not in k8s


def test_verdicts_per_command() -> None:
    blocker = make_finding("oneccl.bypath-missing", "by-path is absent; more detail", [Evidence(text="x")])
    degraded = make_finding("shm.too-small", "/dev/shm is 64 MiB.", severity="degraded")
    assert verdict(Report(command="check", findings=[degraded], facts={"tp": 4})) == (
        "TP=4 will start, degraded: /dev/shm is 64 MiB"
    )
    assert verdict(Report(command="explain", findings=[blocker])).startswith(
        "The log shows why it failed: by-path"
    )
    guess = make_finding("shm.too-small", "/dev/shm may be too small.", confidence="suggests")
    assert verdict(Report(command="explain", findings=[guess])) == (
        "The log suggests why it failed (likely, not proven): /dev/shm may be too small"
    )
    assert verdict(Report(command="audit", findings=[blocker])).startswith("These files will not run TP")
    assert verdict(Report(command="check")) == "No known cause of multi-GPU failure found."
    # no --tp and no GPU: the count is 0, which is not a TP size to name
    blocked = Report(command="check", findings=[blocker], facts={"tp": 0})
    assert verdict(blocked) == "The multi-GPU start will fail: by-path is absent"


def test_plain_text_matches_what_rich_prints() -> None:
    import io

    from rich.console import Console

    report = Report(
        command="check",
        findings=[make_finding("oneccl.bypath-missing", "a [bold]log[/bold] line \\[x] \\", ["[red]e"])],
    )
    for line in render_lines(report, full=True):
        buf = io.StringIO()
        Console(file=buf, highlight=False, soft_wrap=True, emoji=False).print(line)
        assert plain(line) + "\n" == buf.getvalue()
    assert plain(escape("[bold]x[/bold]")) == "[bold]x[/bold]"


def test_the_verdict_line_carries_no_control_characters() -> None:
    """A finding's message quotes the user's values (a config's runtimes, an env var): the first line, built from
    it, is as printable as the finding's own block (escape sequences can clear or retitle a terminal)."""
    f = make_finding("fs.jit-cache-noexec", "cache \x1b[2J\x1b]0;pwned\x07 here: in a noexec tmpfs", [Evidence(source="x", text="y")])
    lines = render_lines(Report(command="audit", findings=[f]))
    assert "\x1b" not in lines[0] and "\x07" not in lines[0], lines[0]
    assert "cache" in lines[0]
