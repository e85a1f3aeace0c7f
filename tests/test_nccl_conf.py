"""NCCL's configuration files (facts/nccl_conf.py): read as NVIDIA/nccl src/misc/param.cc reads them,
merged into the environment the rules see, and their own mistakes named with file and line."""

from __future__ import annotations

import os
from pathlib import Path

from fakeroot import FakeRoot
from tpdoctor.facts.collect import collect_facts
from tpdoctor.facts.nccl_conf import conf_paths, parse_conf
from tpdoctor.facts.passwd import parse_passwd_entry
from tpdoctor.model import CheckOptions, Finding
from tpdoctor.rules.registry import run_fact_rules


def _root(tmp_path: Path, files: dict[str, str]) -> Path:
    root = FakeRoot(tmp_path).root
    for path, text in files.items():
        target = root / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(text.encode())
    return root


def _findings(root: Path, env: dict[str, str]) -> list[Finding]:
    return run_fact_rules(collect_facts(root, env, live=False), CheckOptions())


def _by_cause(findings: list[Finding], cause: str) -> list[Finding]:
    return [f for f in findings if f.cause == cause]


def test_lines_split_as_nccl_splits_them() -> None:
    text = "# NCCL_A=1\nNCCL_B=2\r\nNCCL_DEBUG = INFO\nno equals sign\n=novalue\nNCCL_C=\"eth0\"\nNCCL_D=a=b\n"
    assert parse_conf(text) == [
        (2, "NCCL_B", "2"),  # the CR of a CRLF file is stripped (2.26+)
        (3, "NCCL_DEBUG ", " INFO"),  # untrimmed
        (6, "NCCL_C", '"eth0"'),  # unquoted
        (7, "NCCL_D", "a=b"),  # the first '=' splits
    ]


def test_files_in_nccl_order() -> None:
    assert conf_paths({"HOME": "/root"}, "/root") == ["/root/.nccl.conf", "/etc/nccl.conf"]
    # the passwd home (NCCL <= 2.29, getpwuid) and $HOME (2.30+) when they differ
    assert conf_paths({"HOME": "/tmp/h"}, "/root") == ["/root/.nccl.conf", "/tmp/h/.nccl.conf", "/etc/nccl.conf"]
    # NCCL_CONF_FILE replaces ~/.nccl.conf, /etc/nccl.conf is still read after it
    assert conf_paths({"HOME": "/root", "NCCL_CONF_FILE": "/opt/n.conf"}, "/root") == ["/opt/n.conf", "/etc/nccl.conf"]
    assert conf_paths({"NCCL_CONF_FILE": ""}) == ["/etc/nccl.conf"]


def test_the_passwd_home_of_the_uid(tmp_path: Path) -> None:
    passwd = "root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000::/home/alice:/bin/sh\n"
    entry = parse_passwd_entry(passwd, 1000)
    assert entry is not None and entry.home == "/home/alice"
    assert parse_passwd_entry(passwd, 42) is None and parse_passwd_entry(None, 0) is None
    # NCCL <= 2.29 reads the uid's passwd home even when HOME points elsewhere (measured with NCCL 2.28.9)
    root = _root(tmp_path, {"/etc/passwd": passwd, "/root/.nccl.conf": "NCCL_P2P_LEVEL=NVLINK\n"})
    facts = collect_facts(root, {"HOME": "/tmp/elsewhere"}, live=False)
    assert [(c.path, c.name) for c in facts.nccl_conf] == [("/root/.nccl.conf", "NCCL_P2P_LEVEL")]


def test_an_image_file_value_is_checked_and_the_file_named(tmp_path: Path) -> None:
    root = _root(tmp_path, {"/etc/nccl.conf": "NCCL_DEBUG=WARN\nNCCL_P2P_LEVEL=NVLINK\n"})
    found = _by_cause(_findings(root, {}), "env.invalid-value")
    assert len(found) == 1, found
    ev = found[0].evidence[0]
    assert (ev.source, ev.line, ev.text) == ("/etc/nccl.conf", 2, "NCCL_P2P_LEVEL=NVLINK")


def test_the_environment_wins_over_a_file_line(tmp_path: Path) -> None:
    root = _root(tmp_path, {"/etc/nccl.conf": "NCCL_P2P_LEVEL=NVLINK\n"})
    facts = collect_facts(root, {"NCCL_P2P_LEVEL": "NVL"}, live=False)
    assert facts.env["NCCL_P2P_LEVEL"] == "NVL"
    assert [c.applied for c in facts.nccl_conf] == [False]
    assert not _by_cause(run_fact_rules(facts, CheckOptions()), "env.invalid-value")


def test_the_first_file_wins_over_etc(tmp_path: Path) -> None:
    root = _root(
        tmp_path,
        {"/home/u/.nccl.conf": "NCCL_SOCKET_IFNAME=eth0\n", "/etc/nccl.conf": "NCCL_SOCKET_IFNAME=ib0\nNCCL_DEBUG=INFO\n"},
    )
    facts = collect_facts(root, {"HOME": "/home/u"}, live=False)
    assert facts.env["NCCL_SOCKET_IFNAME"] == "eth0"
    assert facts.env["NCCL_DEBUG"] == "INFO"
    assert [(c.path, c.applied) for c in facts.nccl_conf] == [
        ("/home/u/.nccl.conf", True),
        ("/etc/nccl.conf", False),
        ("/etc/nccl.conf", True),
    ]


def test_spaces_around_the_name_set_nothing_nccl_reads(tmp_path: Path) -> None:
    root = _root(tmp_path, {"/etc/nccl.conf": "NCCL_DEBUG = INFO\n"})
    found = _findings(root, {})
    unknown = _by_cause(found, "env.unknown-variable")
    assert len(unknown) == 1 and "NCCL_DEBUG is not set" in unknown[0].message
    assert unknown[0].evidence[0].line == 1
    # the name with its space is not also reported as a misspelling of NCCL_DEBUG
    assert all("did you mean" not in f.message for f in found)


def test_quotes_stay_in_the_value(tmp_path: Path) -> None:
    root = _root(tmp_path, {"/etc/nccl.conf": 'NCCL_SOCKET_IFNAME="eth0"\n'})
    found = _by_cause(_findings(root, {}), "env.invalid-value")
    assert len(found) == 1 and "keeps the quotes" in found[0].message
    assert found[0].evidence[0].source == "/etc/nccl.conf"


def test_a_clean_file_gives_nothing(tmp_path: Path) -> None:
    root = _root(tmp_path, {"/etc/nccl.conf": "NCCL_DEBUG=INFO\nNCCL_SOCKET_IFNAME=eth0\nNCCL_IB_DISABLE=1\n"})
    found = _findings(root, {})
    assert not [f for f in found if f.cause.startswith("env.")]


def test_a_link_out_of_the_root_is_read_inside_it(tmp_path: Path) -> None:
    outside = tmp_path / "outside.conf"
    outside.write_text("NCCL_P2P_LEVEL=NVLINK\n")
    root = _root(tmp_path, {})
    (root / "etc").mkdir(exist_ok=True)
    os.symlink(str(outside), root / "etc/nccl.conf")  # absolute: resolved inside the root, where it is absent
    facts = collect_facts(root, {}, live=False)
    assert facts.nccl_conf == []
    assert "NCCL_P2P_LEVEL" not in facts.env


def test_a_secret_in_a_file_is_not_kept(tmp_path: Path) -> None:
    root = _root(tmp_path, {"/etc/nccl.conf": "NCCL_NET_TOKEN=ghp_abcdefghijklmnopqrstuvwxyz0123456789\n"})
    facts = collect_facts(root, {}, live=False)
    assert "ghp_" not in facts.nccl_conf[0].value and "ghp_" not in facts.env["NCCL_NET_TOKEN"]


def test_a_huge_file_is_an_error_line_not_a_crash(tmp_path: Path) -> None:
    root = _root(tmp_path, {"/etc/nccl.conf": "NCCL_DEBUG=INFO\n" * 2_000_000})
    facts = collect_facts(root, {}, live=False)
    assert any("/etc/nccl.conf" in e for e in facts.errors)
    assert facts.nccl_conf == []


def test_a_relative_conf_file_is_opened_from_the_jobs_pwd(tmp_path: Path) -> None:
    # NCCL fopen()s NCCL_CONF_FILE as given: a relative name is found from the process's cwd
    root = _root(tmp_path, {"/workspace/run/nccl.conf": "NCCL_P2P_LEVEL=NVL\n", "/nccl.conf": "NCCL_P2P_LEVEL=SYS\n"})
    facts = collect_facts(root, {"NCCL_CONF_FILE": "nccl.conf", "PWD": "/workspace/run"}, live=False)
    assert [(c.path, c.value) for c in facts.nccl_conf] == [("/workspace/run/nccl.conf", "NVL")]
    assert facts.env["NCCL_P2P_LEVEL"] == "NVL"


def test_a_relative_conf_file_without_a_pwd_is_opened_from_the_root(tmp_path: Path) -> None:
    root = _root(tmp_path, {"/nccl.conf": "NCCL_P2P_LEVEL=SYS\n"})
    facts = collect_facts(root, {"NCCL_CONF_FILE": "nccl.conf", "PWD": "relative"}, live=False)
    assert [c.path for c in facts.nccl_conf] == ["/nccl.conf"]
