"""The packaged knowledge base kept beside the compiled databases (explain/signatures.py `knowledge_base`,
explain/hs_cache.py): what is read back equals what is built field by field, a change of its data or code or the
cache off builds afresh, and a spoilt file is built again."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import pytest

from tpdoctor.explain import hs_cache
from tpdoctor.explain import signatures as sigmod
from tpdoctor.explain.signatures import LazyRegex


def _value(v: Any) -> Any:
    return ("LazyRegex", v.pattern) if isinstance(v, LazyRegex) else v


def _view(kb: sigmod.KnowledgeBase) -> tuple[Any, ...]:
    """Every field of every entry, by value (a lazy regex by its pattern)."""
    sigs = tuple(tuple((n, _value(getattr(s, n))) for n in sigmod._SIG_FIELDS) for s in kb.signatures)
    facts = tuple(tuple((n, _value(getattr(f, n))) for n in sigmod._FACT_FIELDS) for f in kb.facts)
    return sigs, facts, kb.correlations, kb.not_in_logs


@pytest.fixture
def built(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[int]:
    """Counts the knowledge bases built (not read back); the cache in tmp_path/cache; knowledge_base() uncached."""
    calls: list[int] = []
    real = sigmod._packaged_knowledge

    def counting() -> sigmod.KnowledgeBase:
        calls.append(1)
        return real()

    monkeypatch.setattr(sigmod, "_packaged_knowledge", counting)
    monkeypatch.setenv("TPDOCTOR_CACHE_DIR", str(tmp_path / "cache"))
    sigmod.knowledge_base.cache_clear()
    yield calls
    sigmod.knowledge_base.cache_clear()


def _fresh() -> sigmod.KnowledgeBase:
    sigmod.knowledge_base.cache_clear()
    return sigmod.knowledge_base()


def _kb_files(tmp_path: Path) -> list[Path]:
    return [p for p in (tmp_path / "cache").iterdir() if p.name.startswith("kb-")]


def test_the_knowledge_read_back_is_the_one_built(tmp_path: Path, built: list[int]) -> None:
    cold = _fresh()
    (path,) = _kb_files(tmp_path)
    assert path.stat().st_mode & 0o777 == 0o600
    warm = _fresh()
    assert built == [1]
    assert _view(warm) == _view(cold) == _view(sigmod._packaged_knowledge())
    sig = warm.signature("nccl.libibverbs-open-failed")
    assert sig.regex.search("NCCL WARN Failed to open libibverbs.so[.1]") is not None
    codes = [s for s in warm.signatures if s.code is not None]
    assert codes and codes[0].code == next(s for s in cold.signatures if s.id == codes[0].id).code


def test_a_change_of_data_code_or_platform_changes_the_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tpdoctor.explain import error_codes

    key = sigmod._kb_key()
    assert key is not None and key == sigmod._kb_key()
    edited = tmp_path / "error_codes.py"
    edited.write_bytes(Path(error_codes.__file__).read_bytes() + b"\n# edited\n")
    monkeypatch.setattr(error_codes, "__file__", str(edited))
    assert sigmod._kb_key() not in (None, key)
    monkeypatch.undo()
    monkeypatch.setattr(os, "strerror", lambda n: f"error {n}")  # another C library's texts
    assert sigmod._kb_key() not in (None, key)
    monkeypatch.undo()
    data = tmp_path / "data"
    import shutil

    from tpdoctor.model import pkgdata

    shutil.copytree(pkgdata.DATA_DIR, data)
    monkeypatch.setattr(pkgdata, "DATA_DIR", str(data))
    assert sigmod._kb_key() == key
    with open(data / "causes.yaml", "a", encoding="utf-8") as f:
        f.write("\n# edited\n")
    assert sigmod._kb_key() not in (None, key)


def test_cache_off_builds_and_writes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, built: list[int]) -> None:
    monkeypatch.setenv("TPDOCTOR_CACHE_DIR", "")
    _fresh()
    _fresh()
    assert built == [1, 1] and not (tmp_path / "cache").exists()


def test_a_compiled_knowledge_base_is_not_cached() -> None:
    raw = {"signatures": [], "include_error_codes": True}
    assert sigmod._kb_dumps(sigmod.parse_knowledge_base(raw, lazy=False)) is None
    lazy = sigmod.parse_knowledge_base(raw, lazy=True)
    dumped = sigmod._kb_dumps(lazy)
    assert dumped is not None and _view(sigmod._kb_loads(dumped)) == _view(lazy)


@pytest.mark.parametrize("spoil", ["flip a payload byte", "valid digest over garbage", "valid digest, wrong shape"])
def test_a_spoilt_knowledge_file_is_built_again(tmp_path: Path, built: list[int], spoil: str) -> None:
    import marshal

    expected = _view(_fresh())
    (path,) = _kb_files(tmp_path)
    data = bytearray(path.read_bytes())
    head = len(hs_cache.MAGIC) + 32
    if spoil == "flip a payload byte":
        data[head + 50] ^= 0xFF
        path.write_bytes(bytes(data))
    else:
        payload = os.urandom(300) if spoil == "valid digest over garbage" else marshal.dumps((1, (), (), (), (), {}))
        path.write_bytes(hs_cache.MAGIC + hashlib.sha256(payload).digest() + payload)
    assert _view(_fresh()) == expected and built == [1, 1]
    assert _view(_fresh()) == expected and built == [1, 1]  # written again, read back
