"""Issue 13, gnew45: container/host causes heldout45's collectors and earlier rounds' dropped leads left uncovered.

Lines are written from the format strings of the code that prints them (never copied from a collected log):

- slurm.mpi-pmix-plugin-unavailable: SchedMD/slurm src/common/plugin.c plugin_context_create ("Couldn't find the
  specified plugin name for %s looking at all files", "cannot find %s plugin for %s", "Couldn't load specified plugin
  name for %s: %s"), src/interfaces/mpi.c _load_plugin ("MPI: Cannot create context for %s", 22.05+),
  src/common/slurm_mpi.c ("cannot create %s context for %s", before 22.05), srun's "Invalid MPI type '%s', --mpi=list
  for acceptable types" (src/srun/srun_job.c; "invalid MPI type" in libsrun/opt.c up to 21.08; "\\"--mpi=%s\\" -- long
  invalid MPI type" up to 17.02), and the PMIx plugin's init() through PMIXP_ERROR (" %s: %s: %s [%d]: %s:%d: "
  "pmi/pmix: can not load PMIx library", _libpmix_open's "pmi/pmix: incorrect PMIx library version loaded %d was
  loaded, required %d version"); each line behind log's "srun: error: " / "slurmd: error: " prefix.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import all_causes as _all
from explain_helpers import findings as _findings
from explain_helpers import knowledge_ids as _ids

_PMIX = "slurm.mpi-pmix-plugin-unavailable"


def _guarded(entry: str) -> None:
    """A look-alike test first requires the reading it guards (the test fails on the tree before gnew45)."""
    assert entry in _ids(), entry


def test_the_new_readings_are_loaded() -> None:
    got = _ids()
    for sid in (
        "slurm.mpi-pmix-plugin-load-failed",
        "slurm.mpi-pmix-plugin-name-not-found",
        "slurm.pmix-library-not-loadable",
    ):
        assert sid in got, sid


def test_the_new_causes_have_remedies() -> None:
    from tpdoctor.explain.signatures import knowledge_base
    from tpdoctor.model.fixes import remedies

    kb = knowledge_base()
    named = {c for s in kb.signatures for c in s.causes} | {c.emit for c in kb.correlations if c.emit}
    for cause in (_PMIX,):
        assert cause in named, cause
        assert remedies(cause), cause


# --- slurm.mpi-pmix-plugin-unavailable ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        # Slurm 22.05+: no plugin file and none of that type in PluginDir, then srun refuses the type
        "srun: error: Couldn't find the specified plugin name for mpi/pmix looking at all files\n"
        "srun: error: cannot find mpi plugin for mpi/pmix\n"
        "srun: error: MPI: Cannot create context for mpi/pmix\n"
        "srun: error: MPI: Unable to load any plugin\n"
        "srun: error: Invalid MPI type 'pmix', --mpi=list for acceptable types\n",
        # Slurm 20.11 / 21.08 wording (src/common/slurm_mpi.c, libsrun/opt.c), a versioned type
        "srun: error: cannot create mpi context for mpi/pmix_v3\n"
        "srun: error: invalid MPI type 'pmix_v3', --mpi=list for acceptable types\n",
        # Slurm up to 17.02
        'srun: error: "--mpi=pmix" -- long invalid MPI type, --mpi=list for acceptable types.\n',
        # the plugin is there but its init() cannot dlopen libpmix.so.2
        "srun: error:  mpi/pmix_v5: init: (null) [0]: mpi_pmix.c:193: pmi/pmix: can not load PMIx library\n"
        "srun: error: Couldn't load specified plugin name for mpi/pmix: Plugin init() callback failed\n"
        "srun: error: MPI: Cannot create context for mpi/pmix\n",
        # slurmd's journal on the node: the same plugin unusable for every step there
        "Aug 18 20:57:02 gpu-n1 slurmd[8713]: slurmd: error:  mpi/pmix_v4: init: (null) [0]: mpi_pmix.c:193: pmi/pmix: can not load PMIx library\n",
        # a PMIx library of another major version than the plugin was built for
        "srun: error:  mpi/pmix_v3: _libpmix_open: (null) [0]: mpi_pmix.c:110: pmi/pmix: incorrect PMIx library version loaded 4 was loaded, required 3 version\n",
    ],
)
def test_slurm_without_a_usable_pmix_plugin_is_named(tmp_path: Path, text: str) -> None:
    got = _findings(tmp_path, text)
    assert got and got[0] == (_PMIX, "proves"), got


def test_the_first_lookup_step_alone_only_suggests(tmp_path: Path) -> None:
    # plugin_context_create may still find the type in PluginDir after this line
    text = "srun: error: Couldn't find the specified plugin name for mpi/pmix looking at all files\n"
    assert _findings(tmp_path, text)[:1] == [(_PMIX, "suggests")]


@pytest.mark.parametrize(
    "text",
    [
        # healthy: srun --mpi=list on a cluster that has PMIx, and slurmd loading it
        "MPI plugin types are...\n\tnone\n\tpmi2\n\tcray_shasta\n\tpmix\nspecific pmix plugin versions available: pmix_v4\n",
        "slurmd: debug:  MPI: Type: pmix\nslurmd: debug:  mpi/pmix_v4: init: PMIx plugin loaded\n",
        # another MPI type missing is not PMIx
        "srun: error: MPI: Cannot create context for mpi/pmi2\n"
        "srun: error: Invalid MPI type 'pmi2', --mpi=list for acceptable types\n",
        "srun: error: cannot create mpi context for mpi/mpich1_shmem\n",
        # another plugin type of Slurm that did not load
        "slurmd: error: Couldn't find the specified plugin name for cgroup/v2 looking at all files\n",
        # the PMIx plugin working, the task's own PMIx failing (mpi.pmix-psec-unavailable's reading, not this)
        "  pmix_psec_base_open failed\n",
        # the fix written down
        "use srun --mpi=pmi2 if srun --mpi=list does not show pmix\n",
    ],
)
def test_pmix_plugin_look_alikes_stay_clean(tmp_path: Path, text: str) -> None:
    _guarded("slurm.mpi-pmix-plugin-load-failed")
    assert _PMIX not in _all(tmp_path, text)
