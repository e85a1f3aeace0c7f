"""grefactor48: facts/passwd.py, the one reader of /etc/passwd's entry for the process's uid, serving NCCL's
`~/.nccl.conf` (the uid's pw_dir, facts/nccl_conf.py) and getpass.getuser()'s fallback (the uid's pw_name,
facts/jit_cache.py). It is read once per gathering, and an entry is a line glibc's getpwuid takes: a name, a numeric uid
and gid, the later fields optional (review48; the refactor's seven-field rule had dropped the user name's reader's
shorter lines)."""

from __future__ import annotations

from pathlib import Path

import pytest

from fakeroot import FakeRoot
from tpdoctor.facts import fsutil
from tpdoctor.facts.collect import collect_facts
from tpdoctor.facts.passwd import parse_passwd_entry


def test_an_entry_has_seven_fields_and_a_name() -> None:
    text = "# comment:x:1000:1000::/c:/bin/sh\n:x:1000:1000::/nameless:/bin/sh\nshort:x:1000\nalice:x:1000:1000::/home/alice:/bin/sh\n"
    entry = parse_passwd_entry(text, 1000)
    assert entry is not None and (entry.name, entry.home) == ("alice", "/home/alice")
    assert parse_passwd_entry("short:x:1000\n", 1000) is None
    entry = parse_passwd_entry("nohome:x:7:7:::/bin/sh\n", 7)
    assert entry is not None and entry.home is None


def _root(tmp_path: Path, passwd: str) -> FakeRoot:
    fr = FakeRoot(tmp_path)
    fr.dockerenv()
    fr.set_status(uid=1000, gid=1000, groups=[1000])
    fr.write("etc/passwd", passwd)
    return fr


def test_passwd_is_read_once_per_gathering_for_both_collectors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fr = _root(tmp_path, "appuser:x:1000:1000::/home/appuser:/bin/sh\n")
    fr.write("home/appuser/.nccl.conf", "NCCL_DEBUG=INFO\n")
    reads: list[str] = []
    real = fsutil.read_text

    def counting(root: Path, path: str, errors: list[str] | None = None, **kw: object) -> str | None:
        reads.append(path)
        return real(root, path, errors, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(fsutil, "read_text", counting)
    for mod in ("tpdoctor.facts.passwd", "tpdoctor.facts.nccl_conf", "tpdoctor.facts.jit_cache"):
        monkeypatch.setattr(f"{mod}.read_text", counting, raising=False)
    fr.path("tmp/torchinductor_appuser").mkdir()
    facts = collect_facts(fr.root, {"PATH": "/usr/bin"}, live=False)
    assert reads.count("/etc/passwd") == 1
    # both used it: NCCL's file from the pw_dir, and TorchInductor's default under the pw_name
    assert [c.path for c in facts.nccl_conf] == ["/home/appuser/.nccl.conf"]
    assert [c.path for c in facts.jit_caches] == ["/tmp/torchinductor_appuser"]


def test_a_short_passwd_line_names_no_user(tmp_path: Path) -> None:
    fr = _root(tmp_path, "appuser:x:1000\n")
    fr.path("tmp/torchinductor_appuser").mkdir()
    facts = collect_facts(fr.root, {"PATH": "/usr/bin"}, live=False)
    assert facts.jit_caches == []


# review48: a NUL in /etc/passwd (a planted or corrupt --root tree) crashed check: the name became part of
# TorchInductor's default path and stat() raised ValueError ('embedded null byte'). getpwuid(3) reads each line as a
# C string, so the line ends at its NUL: 'a\0b:x:1000:...' has no fields and names no one.
def test_a_nul_in_passwd_ends_its_line_as_getpwuid_reads_it(tmp_path: Path) -> None:
    fr = _root(tmp_path, "a\x00b:x:1000:1000::/home/a:/bin/sh\n")
    fr.path("tmp/torchinductor_a").mkdir()
    facts = collect_facts(fr.root, {"PATH": "/usr/bin"}, live=False)
    assert facts.jit_caches == []
    entry = parse_passwd_entry("appuser:x:1000:1000::/home/app\x00user:/bin/sh\n", 1000)
    assert entry is not None and entry.home == "/home/app"  # the dir field ends at the NUL
    entry = parse_passwd_entry("appuser:x:1000:1000::/home/appuser:/bin/sh\x00junk\n", 1000)
    assert entry is not None and entry.home == "/home/appuser"


def test_a_nul_in_the_user_variable_is_no_crash(tmp_path: Path) -> None:
    fr = _root(tmp_path, "")
    facts = collect_facts(fr.root, {"PATH": "/usr/bin", "USER": "a\x00b"}, live=False)
    assert facts.jit_caches == []


# review48: glibc's getpwuid (what getpass.getuser() and NCCL call in torch's manylinux world) takes a line whose fields
# after the gid are missing; the refactor's seven-field rule lost the user name of such a line, which the user-name
# reader before it had found, so TorchInductor's default cache under it went unjudged
def test_a_line_without_its_last_fields_is_an_entry_as_glibc_reads_it(tmp_path: Path) -> None:
    entry = parse_passwd_entry("appuser:x:1000:1000::/home/appuser\n", 1000)
    assert entry is not None and (entry.name, entry.home) == ("appuser", "/home/appuser")
    entry = parse_passwd_entry("appuser:x:1000:1000\n", 1000)
    assert entry is not None and (entry.name, entry.home) == ("appuser", None)
    assert parse_passwd_entry("appuser:x:1000:\n", 1000) is None  # no gid: INT_FIELD refuses the line
    assert parse_passwd_entry("appuser:x:01000:1000::/h:/bin/sh\n", 1000) is not None  # strtoul's 1000
    fr = _root(tmp_path, "appuser:x:1000:1000::/home/appuser\n")
    fr.path("tmp/torchinductor_appuser").mkdir()
    facts = collect_facts(fr.root, {"PATH": "/usr/bin"}, live=False)
    assert [c.path for c in facts.jit_caches] == ["/tmp/torchinductor_appuser"]
