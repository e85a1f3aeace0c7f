"""Snapshots round-trip to identical findings; the shipped examples are what the builder makes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import run_cli
from examples_gen import BUILDERS, EXAMPLES, build
from fakeroot import article_root


def _findings(stdout: str) -> list[dict[str, object]]:
    return json.loads(stdout)["findings"]  # type: ignore[no-any-return]


def test_snapshot_then_from_snapshot_gives_identical_findings(tmp_path: Path) -> None:
    fr = article_root(tmp_path)
    snap = tmp_path / "facts.json"
    live = run_cli("check", "--root", str(fr.root), "--tp", "2", "-f", "json", "--snapshot", str(snap))
    again = run_cli("check", "--from-snapshot", str(snap), "--tp", "2", "-f", "json")
    assert live.returncode == again.returncode == 3
    assert _findings(live.stdout) == _findings(again.stdout)
    assert "hf_secret_value" not in snap.read_text()  # HF_TOKEN is redacted in the snapshot


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_shipped_examples_are_up_to_date(name: str) -> None:
    shipped = json.loads((EXAMPLES / f"{name}.json").read_text())
    assert shipped == json.loads(build(name)), "run: python3 tests/examples_gen.py"


def test_example_article_is_the_readme_command() -> None:
    r = run_cli("check", "--example", "article", "--tp", "2")
    assert r.returncode == 3, r.stderr
    assert "oneccl.bypath-missing" in r.stdout and "Traceback" not in r.stderr
    listing = run_cli("check", "--example", "list")
    assert listing.returncode == 0 and set(BUILDERS) <= {ln.split()[0] for ln in listing.stdout.splitlines()}


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--root", "/nonexistent/root"], "not a directory"),
        (["--from-snapshot", "/nonexistent.json"], "cannot read snapshot"),
        (["--example", "nope"], "unknown example"),
        (["--root", "/", "--example", "article"], "only one of"),
        (["--example", "article", "--oneccl-version", "14"], "2021.14"),
        (["--example", "article", "--backend", "tpu"], "--backend"),
        (["--example", "article", "--env-file", "/nonexistent.env"], "cannot read env file"),
    ],
)
def test_bad_input_is_one_line_exit_2(args: list[str], needle: str) -> None:
    r = run_cli("check", *args)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert needle in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    "content", ["garbage", "[1, 2]", '{"schema_version": 1, "dev": 5}', '{"schema_version": 99}']
)
def test_garbage_snapshot_is_one_line_exit_2(tmp_path: Path, content: str) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    r = run_cli("check", "--from-snapshot", str(bad))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_env_file_drives_the_prediction(tmp_path: Path) -> None:
    fr = article_root(tmp_path).docker_default(sys_ptrace=True).set_ptrace_scope(0)
    env = tmp_path / "job.env"
    env.write_text("# the job's environment\nexport CCL_ZE_IPC_EXCHANGE=sockets\n")
    r = run_cli(
        "check", "--root", str(fr.root), "--tp", "1", "--pp", "2", "--env-file", str(env), "-f", "json"
    )
    assert r.returncode == 3
    # notices (check2's env.article-set: the article's environment is set) are not the point here
    assert [f["cause"] for f in _findings(r.stdout) if f["severity"] != "notice"] == ["oneccl.sockets-pt2pt"]
    env.write_text("CCL_ZE_IPC_EXCHANGE=drmfd\n")
    r = run_cli(
        "check", "--root", str(fr.root), "--tp", "1", "--pp", "2", "--env-file", str(env), "-f", "json"
    )
    assert [f["cause"] for f in _findings(r.stdout) if f["severity"] != "notice"] == ["oneccl.bypath-missing"]
