"""Builds the shipped example snapshots (src/tpdoctor/data/examples/*.json) from fake roots.

Regenerate after a Facts change:  python3 tests/examples_gen.py
test_examples.py fails when a shipped example differs from what this produces.
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

# this checkout's package, not whichever tpdoctor is installed (a worktree beside an editable install of another
# checkout wrote examples without that checkout's new facts: merge34)
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from fakeroot import FakeRoot, article_root
from tpdoctor.facts.collect import collect_facts
from tpdoctor.facts.snapshot import dump_facts

EXAMPLES = Path(__file__).resolve().parents[1] / "src/tpdoctor/data/examples"
B0, B1 = "0000:03:00.0", "0000:04:00.0"


def _article(base: Path) -> FakeRoot:
    return article_root(base)


def _article_fixed(base: Path) -> FakeRoot:
    return article_root(base).add_bypath(B0, 128).add_bypath(B1, 129)


def _pidfd(base: Path) -> FakeRoot:
    fr = article_root(base).docker_default(sys_ptrace=True)
    return fr.set_env(CCL_ZE_IPC_EXCHANGE="pidfd")


def _podman_yama(base: Path) -> FakeRoot:
    fr = FakeRoot(base).add_gpu(128, B0).add_gpu(129, B1).docker_default().containerenv()
    return fr.set_ptrace_scope(1).oneccl_install("opt/intel/oneapi/ccl/2021.14")


BUILDERS: dict[str, tuple[str, Callable[[Path], FakeRoot]]] = {
    "article": (
        "the article's container: 2 Arc GPUs via devices:, Docker default seccomp, no by-path",
        _article,
    ),
    "article-fixed": ("the article's container plus the read-only /dev/dri/by-path mount", _article_fixed),
    "pidfd": ("the article's container with cap_add SYS_PTRACE and ptrace_scope 1", _pidfd),
    "podman-yama": ("Podman, 2 Arc GPUs, no SYS_PTRACE, Yama ptrace_scope 1", _podman_yama),
}


def build(name: str) -> str:
    label, builder = BUILDERS[name]
    with tempfile.TemporaryDirectory() as tmp:
        fr = builder(Path(tmp))
        facts = collect_facts(fr.root, dict(fr.env), live=False)
    facts = facts.model_copy(update={"root": "/", "collected_at": None, "label": label})
    return dump_facts(facts)


def main() -> int:
    EXAMPLES.mkdir(parents=True, exist_ok=True)
    for name in BUILDERS:
        (EXAMPLES / f"{name}.json").write_text(build(name))
    return 0


if __name__ == "__main__":
    sys.exit(main())
