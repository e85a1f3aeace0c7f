"""The scanner's literal tables kept beside the compiled databases (explain/scanner.py `_literal_tables`,
explain/hs_cache.py): what is read back is what would be built, a changed knowledge base or cache off builds
afresh, a spoilt file is built again, and explain says the same with a cold and a warm cache."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import pytest

from tpdoctor.explain import hs_cache, scanner
from tpdoctor.explain.scanner import Scanner
from tpdoctor.explain.signatures import knowledge_base, parse_knowledge_base

pytest.importorskip("hyperscan")

SMALL = {
    "include_error_codes": False,
    "signatures": [
        {
            "id": "oneccl.test-opendir",
            "literals": ["opendir failed: could not open device directory", "opendir failed"],
            "pattern": r"opendir failed: could not open device directory",
            "causes": ["oneccl.bypath-missing"],
            "examples": ["EXCEPTION: opendir failed: could not open device directory"],
        }
    ],
    "facts": [{"id": "t-world", "literals": ["WORLD_SIZE="], "pattern": r"WORLD_SIZE=(?P<world_size>\d+)"}],
}


def _view(sc: Scanner) -> tuple[Any, ...]:
    """Everything the tables decide, by value."""
    eng: Any = sc.engine
    targets = tuple((tuple(t.sigs), tuple(t.facts), tuple(t.frags), t.salient, t.capture) for t in sc._targets)
    covered = tuple(sorted((k, tuple(v)) for k, v in eng._covered.items()))
    return sc.literals, tuple(eng._is_single), targets, tuple(sc._light), tuple(sc._frag_only), covered


@pytest.fixture
def built(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the tables built (not read back)."""
    calls: list[int] = []
    real = scanner._build_tables

    def counting(kb: Any) -> Any:
        calls.append(1)
        return real(kb)

    monkeypatch.setattr(scanner, "_build_tables", counting)
    return calls


def _tables_files(cache: Path) -> list[Path]:
    return [p for p in cache.iterdir() if p.name.startswith("tables-")]


def test_the_packaged_tables_read_back_are_the_ones_built(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, built: list[int]
) -> None:
    kb = knowledge_base()
    monkeypatch.setenv("TPDOCTOR_CACHE_DIR", "")
    fresh = _view(Scanner(kb))
    assert built == [1]
    monkeypatch.setenv("TPDOCTOR_CACHE_DIR", str(tmp_path / "cache"))
    cold = _view(Scanner(kb))
    (path,) = _tables_files(tmp_path / "cache")
    assert path.stat().st_mode & 0o777 == 0o600
    warm = _view(Scanner(kb))
    assert built == [1, 1]  # the third scanner read them back
    assert fresh == cold == warm


def test_another_knowledge_base_or_the_cache_off_builds_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, built: list[int]
) -> None:
    cache = tmp_path / "cache"
    monkeypatch.setenv("TPDOCTOR_CACHE_DIR", str(cache))
    small = parse_knowledge_base(SMALL)
    first = _view(Scanner(small))
    changed = dict(SMALL, facts=[dict(SMALL["facts"][0], single=True)])  # type: ignore[arg-type]
    other = _view(Scanner(parse_knowledge_base(changed)))
    assert built == [1, 1] and first != other and len(_tables_files(cache)) == 2
    assert _view(Scanner(parse_knowledge_base(SMALL))) == first and built == [1, 1]
    monkeypatch.setenv("TPDOCTOR_CACHE_DIR", "")
    assert _view(Scanner(small)) == first and built == [1, 1, 1]


def test_the_key_follows_the_code_that_builds_the_tables(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tpdoctor.explain import normalize

    kb = parse_knowledge_base(SMALL)
    key = scanner._tables_key(kb)
    assert key is not None and key == scanner._tables_key(parse_knowledge_base(SMALL))
    edited = tmp_path / "normalize.py"
    edited.write_bytes(Path(normalize.__file__).read_bytes() + b"\n# edited\n")
    monkeypatch.setattr(normalize, "__file__", str(edited))
    assert scanner._tables_key(kb) not in (None, key)
    monkeypatch.setattr(normalize, "__file__", str(tmp_path / "gone.py"))
    assert scanner._tables_key(kb) is None  # unreadable source: built, never read back


@pytest.mark.parametrize("spoil", ["flip a payload byte", "valid digest over garbage", "valid digest, wrong shape"])
def test_a_spoilt_tables_file_is_built_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, built: list[int], spoil: str
) -> None:
    import marshal

    cache = tmp_path / "cache"
    monkeypatch.setenv("TPDOCTOR_CACHE_DIR", str(cache))
    kb = parse_knowledge_base(SMALL)
    expected = _view(Scanner(kb))
    (path,) = _tables_files(cache)
    data = bytearray(path.read_bytes())
    head = len(hs_cache.MAGIC) + 32
    if spoil == "flip a payload byte":
        data[head + 20] ^= 0xFF
        path.write_bytes(bytes(data))
    else:
        payload = os.urandom(200) if spoil == "valid digest over garbage" else marshal.dumps((1, (b"x",), ()))
        path.write_bytes(hs_cache.MAGIC + hashlib.sha256(payload).digest() + payload)
    assert _view(Scanner(kb)) == expected and built == [1, 1]
    assert _view(Scanner(kb)) == expected and built == [1, 1]  # written again, read back


def test_prune_keeps_a_few_tables_apart_from_the_databases(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    cache.mkdir(mode=0o700)
    for i in range(hs_cache.MAX_TABLES + 3):
        p = cache / f"tables-{i:064x}.db"
        p.write_bytes(b"x")
        os.utime(p, (1000 + i, 1000 + i))
    (cache / f"hs-{0:064x}.db").write_bytes(b"x")
    fd = os.open(cache, os.O_RDONLY | os.O_DIRECTORY)
    try:
        hs_cache._prune(fd)
    finally:
        os.close(fd)
    names = sorted(p.name for p in cache.iterdir())
    assert f"hs-{0:064x}.db" in names
    kept = [n for n in names if n.startswith("tables-")]
    assert len(kept) == hs_cache.MAX_TABLES and f"tables-{hs_cache.MAX_TABLES + 2:064x}.db" in kept
