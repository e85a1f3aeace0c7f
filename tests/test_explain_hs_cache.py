"""The on-disk cache of compiled Hyperscan databases (explain/hs_cache.py): used when it is safe, never
written through a link, never trusted when someone else could have written it, and never a change in what
explain finds."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tpdoctor.explain import hs_cache

hyperscan = pytest.importorskip("hyperscan")

LITERALS = [b"NCCL WARN", b"unhandled system error", b"opendir failed"]
TEXT = b"x NCCL WARN y\nz unhandled system error\nopendir failed: could not open device directory\n"


@pytest.fixture
def compiled(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts Hyperscan's real compiles (one element each)."""
    calls: list[int] = []
    real = hyperscan.Database.compile

    class Counting(hyperscan.Database):  # type: ignore[misc, name-defined]
        def compile(self, *a: object, **k: object) -> object:
            calls.append(1)
            return real(self, *a, **k)

    monkeypatch.setattr(hyperscan, "Database", Counting)
    return calls


def _engine(monkeypatch: pytest.MonkeyPatch, cache: Path | str, compiled: list[int]) -> object:
    """A HyperscanEngine over LITERALS with its cache at `cache`."""
    from tpdoctor.explain import engine

    monkeypatch.setenv("TPDOCTOR_CACHE_DIR", str(cache))
    return engine.HyperscanEngine(LITERALS, [False, False, False])


def _engine_twice(monkeypatch: pytest.MonkeyPatch, cache: Path | str, compiled: list[int]) -> None:
    """Two engines in a row: the second compiles again unless the first one's database was cached."""
    _engine(monkeypatch, cache, compiled)
    _engine(monkeypatch, cache, compiled)


def _scan(eng: object) -> list[tuple[int, int]]:
    return sorted(eng.scan(TEXT))  # type: ignore[attr-defined]


def test_second_engine_loads_instead_of_compiling_and_finds_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, compiled: list[int]
) -> None:
    cache = tmp_path / "cache"
    first = _scan(_engine(monkeypatch, cache, compiled))
    assert compiled == [1]
    files = list(cache.iterdir())
    assert len(files) == 1 and files[0].name.startswith("hs-")
    assert files[0].stat().st_mode & 0o777 == 0o600 and cache.stat().st_mode & 0o777 == 0o700
    second = _scan(_engine(monkeypatch, cache, compiled))
    assert compiled == [1]  # loaded from disk
    assert second == first and len(first) == 3


def test_cache_off_when_the_variable_is_empty(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, compiled: list[int]
) -> None:
    monkeypatch.chdir(tmp_path)
    _engine_twice(monkeypatch, "", compiled)
    assert compiled == [1, 1] and list(tmp_path.iterdir()) == []


def test_symlinked_cache_dir_is_not_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, compiled: list[int]
) -> None:
    target = tmp_path / "elsewhere"
    target.mkdir(mode=0o700)
    link = tmp_path / "cache"
    link.symlink_to(target)
    _engine_twice(monkeypatch, link, compiled)
    assert compiled == [1, 1] and list(target.iterdir()) == []


def test_a_link_above_the_cache_dir_is_not_followed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, compiled: list[int]
) -> None:
    # root with a user's HOME whose ~/.cache is a link: nothing is created or written where it points
    target = tmp_path / "etc-like"
    target.mkdir(mode=0o755)
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    (home / ".cache").symlink_to(target)
    _engine_twice(monkeypatch, home / ".cache" / "tpdoctor", compiled)
    assert compiled == [1, 1] and list(target.iterdir()) == []


@pytest.mark.skipif(os.geteuid() != 0, reason="chown to another user needs root")
def test_a_directory_another_user_owns_on_the_way_is_not_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, compiled: list[int]
) -> None:
    home = tmp_path / "home"
    home.mkdir(mode=0o755)
    os.chown(home, 65534, 65534)  # a user's home: that user could swap what lies below it
    _engine_twice(monkeypatch, home / "cache", compiled)
    assert compiled == [1, 1] and not (home / "cache").exists()


def test_world_writable_ancestors_only_with_the_sticky_bit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, compiled: list[int]
) -> None:
    open_dir = tmp_path / "open"
    open_dir.mkdir()
    open_dir.chmod(0o777)
    _engine(monkeypatch, open_dir / "cache", compiled)
    assert compiled == [1] and not (open_dir / "cache").exists()
    sticky = tmp_path / "sticky"
    sticky.mkdir()
    sticky.chmod(0o1777)  # as /tmp
    _engine_twice(monkeypatch, sticky / "cache", compiled)
    assert compiled == [1, 1] and any((sticky / "cache").iterdir())


def test_cache_dir_others_can_write_is_not_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, compiled: list[int]
) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    cache.chmod(0o777)
    _engine_twice(monkeypatch, cache, compiled)
    assert compiled == [1, 1] and list(cache.iterdir()) == []


def _only_file(cache: Path) -> Path:
    (path,) = [p for p in cache.iterdir() if p.name.startswith("hs-")]
    return path


@pytest.mark.parametrize(
    "spoil",
    [
        "flip a payload byte",  # the stored SHA-256 no longer matches
        "truncate",
        "valid digest over garbage",  # our header is right, Hyperscan's own check refuses the bytes
        "group-writable file",
    ],
)
def test_a_spoilt_file_is_compiled_again_and_replaced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, compiled: list[int], spoil: str
) -> None:
    import hashlib

    cache = tmp_path / "cache"
    expected = _scan(_engine(monkeypatch, cache, compiled))
    path = _only_file(cache)
    data = bytearray(path.read_bytes())
    head = len(hs_cache.MAGIC) + 32
    if spoil == "flip a payload byte":
        data[head + 100] ^= 0xFF
        path.write_bytes(bytes(data))
    elif spoil == "truncate":
        path.write_bytes(bytes(data[: head + 10]))
    elif spoil == "valid digest over garbage":
        garbage = os.urandom(len(data) - head)
        path.write_bytes(hs_cache.MAGIC + hashlib.sha256(garbage).digest() + garbage)
    else:
        path.chmod(0o620)
    assert _scan(_engine(monkeypatch, cache, compiled)) == expected
    assert compiled == [1, 1]
    if spoil != "group-writable file":  # rewritten: the next engine loads it again
        assert _scan(_engine(monkeypatch, cache, compiled)) == expected
        assert compiled == [1, 1]


def test_a_planted_link_at_the_database_name_is_replaced_not_written_through(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, compiled: list[int]
) -> None:
    cache = tmp_path / "cache"
    _engine(monkeypatch, cache, compiled)
    path = _only_file(cache)
    path.unlink()
    victim = tmp_path / "victim"
    victim.write_bytes(b"precious\n")
    path.symlink_to(victim)
    _engine(monkeypatch, cache, compiled)
    assert compiled == [1, 1]  # the link was not read as a database
    assert victim.read_bytes() == b"precious\n"
    assert path.is_file() and not path.is_symlink()


def test_prune_keeps_the_newest_entries_and_drops_dead_writers_temp_files(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    cache.mkdir(mode=0o700)
    for i in range(hs_cache.MAX_ENTRIES + 5):
        p = cache / f"hs-{i:064x}.db"
        p.write_bytes(b"x")
        os.utime(p, (1000 + i, 1000 + i))
    (cache / ".hs-tmp-999999999-deadbeef").write_bytes(b"partial")
    (cache / f".hs-tmp-{os.getpid()}-cafebabe").write_bytes(b"being written")
    (cache / "unrelated.txt").write_bytes(b"keep")
    fd = os.open(cache, os.O_RDONLY | os.O_DIRECTORY)
    try:
        hs_cache._prune(fd)
    finally:
        os.close(fd)
    names = sorted(p.name for p in cache.iterdir())
    kept = [n for n in names if n.startswith("hs-")]
    assert len(kept) == hs_cache.MAX_ENTRIES
    assert f"hs-{0:064x}.db" not in kept and f"hs-{hs_cache.MAX_ENTRIES + 4:064x}.db" in kept
    assert ".hs-tmp-999999999-deadbeef" not in names
    assert f".hs-tmp-{os.getpid()}-cafebabe" in names and "unrelated.txt" in names


def test_key_depends_on_literals_flags_and_version() -> None:
    base = hs_cache.database_key("0.9.1", LITERALS, [0, 0, 0], [0, 1, 2])
    assert base != hs_cache.database_key("0.9.2", LITERALS, [0, 0, 0], [0, 1, 2])
    assert base != hs_cache.database_key("0.9.1", LITERALS, [0, 8, 0], [0, 1, 2])
    assert base != hs_cache.database_key("0.9.1", [b"NCCL WAR", b"N", *LITERALS[1:]], [0, 0, 0], [0, 1, 2])
    assert base == hs_cache.database_key("0.9.1", list(LITERALS), [0, 0, 0], [0, 1, 2])


def test_cache_dir_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("TPDOCTOR_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert hs_cache.cache_dir() == tmp_path / "xdg" / "tpdoctor"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/ignored")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert hs_cache.cache_dir() == tmp_path / "home" / ".cache" / "tpdoctor"


def test_explain_reads_the_same_with_a_cold_and_a_warm_cache(tmp_path: Path) -> None:
    """End to end, two CLI runs: the first compiles and writes, the second loads; same JSON."""
    from conftest import run_cli

    log = tmp_path / "ranks.log"
    log.write_text(
        "oneCCL: ze_fd_manager.cpp:144 init_device_fds: EXCEPTION: opendir failed: could not open device directory\n"
    )
    env_cache = tmp_path / "c"
    os.environ["TPDOCTOR_CACHE_DIR"] = str(env_cache)
    try:
        cold = run_cli("explain", str(log), "--format", "json")
        assert any(env_cache.iterdir())
        warm = run_cli("explain", str(log), "--format", "json")
    finally:
        del os.environ["TPDOCTOR_CACHE_DIR"]
    assert cold.returncode == warm.returncode
    assert cold.stdout == warm.stdout and "oneccl.bypath-missing" in cold.stdout
