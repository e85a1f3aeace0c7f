"""grefactor48: "may the inspected process create files in this directory" in one place (facts/process.py
may_create_in, writable_by), for /tmp (facts/system.py collect_tmp: oneccl.tmp-unwritable) and the JIT caches
(facts/jit_cache.py: fs.jit-cache-other-owner). The /tmp copy disagreed with the kernel under --root: it read only
others' write bit and the owner's, so it took a directory of the process's group (0770) as not writable, an owner's
0077 as writable, and ignored the search bit creating a file needs. The kernel's generic_permission looks at one
class only (owner, else group, else others), and may_create asks for MAY_WRITE|MAY_EXEC: that is what both read now.
Live, both ask access(2) with W_OK|X_OK."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from fakeroot import FakeRoot
from tpdoctor.facts.collect import collect_facts


def _tmp_writable(tmp_path: Path, owner: int, group: int, mode: int, uid: int = 1000) -> bool | None:
    fr = FakeRoot(tmp_path).set_status(uid=uid, gid=1000, groups=[1000, 44])
    tmp = fr.path("tmp")
    tmp.mkdir(exist_ok=True)
    os.chown(tmp, owner, group)
    os.chmod(tmp, mode)
    return collect_facts(fr.root, {}, live=False).tmp_writable


@pytest.mark.parametrize(
    "owner,group,mode,want",
    [
        (0, 0, 0o1777, True),  # the usual /tmp
        (0, 0, 0o755, False),
        (1000, 1000, 0o700, True),  # the process's own
        (0, 44, 0o770, True),  # one of the process's groups may write and search it
        (1000, 0, 0o077, False),  # the owner's class decides for the owner, whatever others may
        (0, 0, 0o1772, False),  # write without search: no file can be created in it
    ],
)
def test_tmp_is_judged_as_the_kernel_judges_it(tmp_path: Path, owner: int, group: int, mode: int, want: bool) -> None:
    assert _tmp_writable(tmp_path, owner, group, mode) is want


def test_root_may_and_an_unknown_uid_is_unknown(tmp_path: Path) -> None:
    assert _tmp_writable(tmp_path / "r", 1000, 1000, 0o700, uid=0) is True
    fr = FakeRoot(tmp_path / "u")
    del fr.status["Uid"]
    fr.flush()
    facts = collect_facts(fr.root, {}, live=False)
    assert facts.process.uid is None and facts.tmp_writable is None  # no guess from the mode bits alone


# review48: the kernel bypasses the mode bits for CAP_DAC_OVERRIDE, not for uid 0 (generic_permission's
# capable_wrt_inode_uidgid): root with its capabilities dropped was told it may create in another user's 0755
# directory (/tmp here; fs.jit-cache-other-owner's /tmp/torchinductor_root likewise)
@pytest.mark.parametrize(
    "uid,capeff,want",
    [
        (0, (1 << 41) - 1, True),  # root with the full set: the 0755 dir of another user is writable
        (0, 0, False),  # --cap-drop ALL: the mode bits decide, and others may not write
        (0, 1 << 0, False),  # CAP_CHOWN alone does not override
        (0, 1 << 1, True),  # CAP_DAC_OVERRIDE alone does
        (1000, 0, False),
    ],
)
def test_dac_override_not_uid_0_bypasses_the_mode_bits(tmp_path: Path, uid: int, capeff: int, want: bool) -> None:
    fr = FakeRoot(tmp_path).set_status(uid=uid, gid=uid, groups=[], capeff=capeff)
    tmp = fr.path("tmp")
    os.chmod(tmp, 0o755)
    os.chown(tmp, 4242, 4242)
    assert collect_facts(fr.root, {}, live=False).tmp_writable is want
