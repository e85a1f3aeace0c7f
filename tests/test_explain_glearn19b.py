"""The families the glearn19b pass taught explain (heldout19 misses): libfabric shm's CMA refused by ptrace rules,
openib/uverbs ENOMEM and openib segfaults from a low memlock limit, slurmd's gres.conf record checks, and
Apptainer's "namespace requires privileges" under Ubuntu's AppArmor userns restriction. Each line is written from
the format string of the program that prints it (named on every case), with look-alikes that must stay clean."""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import causes as _found

# ---- CMA refused by ptrace rules (libfabric shm, fabtests, prose) -----------------------------------------


@pytest.mark.parametrize(
    "line",
    [
        # ofiwg/libfabric include/ofi_cma.h cma_copy FI_WARN("CMA error %d\n", errno) (v1.20+)
        "libfabric:9913:1700000000:shm:core:cma_copy():59<warn> CMA error 1",
        # prov/shm/src/smr.h smr_cma_loop (v1.12-v1.19)
        "libfabric:311:1660000000:shm:ep_ctrl:smr_cma_loop():406<warn> CMA error 1",
        # prov/shm/src/smr_rma.c (v1.10-v1.11)
        "libfabric:77:1590000000:shm:ep_ctrl:smr_rma_fast():84<warn> CMA write error",
        # fabtests FT_PRINTERR '%s(): %s:%d, ret=%d (%s)' for an RMA call
        "fi_write(): common/shared.c:2211, ret=-1 (Operation not permitted)",
        "fi_inject_write(): common/shared.c:1790, ret=-1 (Operation not permitted)",
        "fi_fetch_atomic(): common/shared.c:2507, ret=-1 (Operation not permitted)",
        # prose
        "The shm provider fails because ptrace protection is enabled on the host, so CMA is refused",
        "process_vm_readv returns EPERM since kernel.yama.ptrace_scope = 1 on these nodes",
    ],
)
def test_cma_refused_by_ptrace_is_named(tmp_path: Path, line: str) -> None:
    assert _found(tmp_path, line + "\n")[:1] == ["mpi.cma-ptrace-denied"]


@pytest.mark.parametrize(
    "line",
    [
        # ESRCH (peer gone) and ENOMEM are not the ptrace refusal
        "libfabric:9913:1700000000:shm:core:cma_copy():59<warn> CMA error 3",
        "libfabric:9913:1700000000:shm:core:cma_copy():59<warn> CMA error 12",
        # an EPERM on a non-RMA call, and an RMA call that only ran out of credits
        "fi_getinfo(): common/shared.c:1090, ret=-1 (Operation not permitted)",
        "fi_write(): common/shared.c:2211, ret=-11 (Resource temporarily unavailable)",
        # ptrace words without CMA
        "kernel.yama.ptrace_scope = 1",
        "gdb could not attach: ptrace_scope is 1, run it with sudo",
    ],
)
def test_cma_neighbours_stay_clean(tmp_path: Path, line: str) -> None:
    assert "mpi.cma-ptrace-denied" not in _found(tmp_path, line + "\n")


# ---- locked memory: openib QP ENOMEM, uverbs mmap ENOMEM, openib segfault ---------------------------------


@pytest.mark.parametrize(
    "line",
    [
        # Open MPI btl_openib_connect_oob.c qp_create_one BTL_ERROR(("error creating qp errno says %s", strerror(errno)))
        "[cn12][[4410,1],3][connect/btl_openib_connect_oob.c:463:qp_create_one] error creating qp errno says Cannot allocate memory",
        # btl_openib_connect_udcm.c (v2.0-v4.1)
        "[cn12][[4410,1],3][connect/btl_openib_connect_udcm.c:1073:udcm_rc_qp_create_one] error creating qp errno says Cannot allocate memory",
        # strace -y of the verbs provider's mmap
        "mmap(NULL, 4096, PROT_READ|PROT_WRITE, MAP_SHARED, 5</dev/infiniband/uverbs1>, 0) = -1 ENOMEM (Cannot allocate memory)",
        # retold
        "strace shows that mmap on /dev/infiniband/uverbs0 fails with ENOMEM during MPI_Init",
        # kernel show_signal_msg + print_vma_addr
        "[1203.5521] osu_bw[8812]: segfault at 18 ip 00007f3a11c02b10 sp 00007ffd2e1f4a60 error 4 in mca_btl_openib.so[7f3a11bd0000+4c000]",
    ],
)
def test_low_memlock_families_are_named(tmp_path: Path, line: str) -> None:
    assert _found(tmp_path, line + "\n")[:1] == ["rdma.memlock-too-low"]


@pytest.mark.parametrize(
    "line",
    [
        "[cn12][[4410,1],3][connect/btl_openib_connect_oob.c:463:qp_create_one] error creating qp errno says Invalid argument",
        "crw-rw-rw- 1 root root 231, 192 Jan  1 00:00 /dev/infiniband/uverbs0",
        "docker run --device=/dev/infiniband/uverbs0 --device=/dev/infiniband/rdma_cm image",
        "[1203.5521] python[8812]: segfault at 0 ip 00007f3a11c02b10 sp 00007ffd2e1f4a60 error 4 in libc-2.31.so[7f3a11bd0000+1b5000]",
    ],
)
def test_memlock_neighbours_stay_clean(tmp_path: Path, line: str) -> None:
    assert "rdma.memlock-too-low" not in _found(tmp_path, line + "\n")


# ---- slurmd gres.conf record checks ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "line",
    [
        # SchedMD/slurm src/common/gres.c fatal("gres.conf duplicate records for %s", ...)
        "Mar 02 09:14:07 gpu07 slurmd[2210]: fatal: gres.conf duplicate records for gpu",
        # fatal("gres.conf for %s, some records have File specification while others do not") (<= 19.05)
        "slurmd: fatal: gres.conf for gpu, some records have File specification while others do not",
        # fatal("gres.conf for %s, some records have \"Type=\" specification while others do not") (20.02+)
        'slurmd: fatal: gres.conf for gpu, some records have "Type=" specification while others do not',
        # _parse_gres_config fatal("Invalid GRES record for %s, invalid count %s")
        "slurmd: fatal: Invalid GRES record for gpu, invalid count four",
    ],
)
def test_gres_conf_record_errors_are_named(tmp_path: Path, line: str) -> None:
    assert _found(tmp_path, line + "\n")[:1] == ["slurm.gres-unavailable"]


@pytest.mark.parametrize(
    "line",
    [
        "slurmd: Gres Name=gpu Type=a100 Count=1 Index=0 ID=7696487 File=/dev/nvidia0 (null)",
        "AutoDetect=nvml",
        "Name=gpu Type=a100 File=/dev/nvidia[0-3]",
    ],
)
def test_gres_conf_neighbours_stay_clean(tmp_path: Path, line: str) -> None:
    assert "slurm.gres-unavailable" not in _found(tmp_path, line + "\n")


# ---- Apptainer: namespace requires privileges --------------------------------------------------------------


@pytest.mark.parametrize(
    "line",
    [
        # apptainer cmd/starter/c/starter.c nserror '%s namespace requires privileges, check %s installation'
        "ERROR  : Failed to create mount namespace: mount namespace requires privileges, check Apptainer installation",
        "FATAL:   Failed to create ipc namespace: ipc namespace requires privileges, check Singularity installation",
        "ERROR  : Failed to create pid namespace: pid namespace requires privileges, check Apptainer installation",
        "apptainer build fails on 24.04 with 'mount namespace requires privileges'",
        # the fix as a command (linux security/apparmor sysctls, Ubuntu 23.10+)
        "$ sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0",
        "echo 0 | sudo tee /proc/sys/kernel/apparmor_restrict_unprivileged_userns",
        "echo 'kernel.apparmor_restrict_unprivileged_userns=0' | sudo tee /etc/sysctl.d/60-apparmor-namespace.conf",
        "sudo sysctl --write kernel.apparmor_restrict_unprivileged_unconfined=0",
    ],
)
def test_apptainer_namespace_privileges_is_named(tmp_path: Path, line: str) -> None:
    assert _found(tmp_path, line + "\n")[:1] == ["userns.apparmor-restricted"]


@pytest.mark.parametrize(
    "line",
    [
        "VERBOSE: Create mount namespace",
        "apptainer exec --nv --userns image.sif nvidia-smi",
        "Moreover joining a namespace requires privileges.",
        # the sysctl read back, not changed
        "kernel.apparmor_restrict_unprivileged_userns = 1",
        "kernel.apparmor_restrict_unprivileged_userns = 0",  # `sysctl NAME` reading back no restriction
        "$ sysctl kernel.apparmor_restrict_unprivileged_userns\nkernel.apparmor_restrict_unprivileged_userns = 0",
        "cat /proc/sys/kernel/apparmor_restrict_unprivileged_userns",
    ],
)
def test_apptainer_neighbours_stay_clean(tmp_path: Path, line: str) -> None:
    assert "userns.apparmor-restricted" not in _found(tmp_path, line + "\n")


# ---- widened: Open MPI 5 smsc/cma, UCX's ptrace_scope probe, slurmd GPU merge --------------------------------


@pytest.mark.parametrize(
    "line",
    [
        # open-mpi/ompi opal/mca/smsc/cma/smsc_cma_component.c (v5)
        "[gpu3:11021] mca_smsc_cma_component_query: could not select for use. insufficient ptrace permissions.",
        # smsc_cma_module.c kcmp check
        "[gpu3:11021] mca_smsc_cma_module_get_endpoint: can not proceed. processes do not have the necessary permissions (i.e., CAP_SYS_PTRACE). PID 11021 <-> 11022 (rc = -1) (errno: 1: Operation not permitted)",
        # openucx/ucx cma_md.c uct_cma_test_ptrace_scope at debug level
        "[1712000000.101010] [gpu3:11021:0]        cma_md.c:114  UCX  DEBUG ptrace_scope is 1 and prctl(PR_SET_PTRACER, PR_SET_PTRACER_ANY) failed, CMA is unsupported",
        "ptrace_scope is 2 but no CAP_SYS_PTRACE, CMA is unsupported",
        # ofiwg/libfabric prov/efa/src/rxr/rxr_init.c (v1.9) stderr
        "SHM transfer will be disabled because of ptrace protection.",
    ],
)
def test_cma_ptrace_probe_forms_are_named(tmp_path: Path, line: str) -> None:
    assert _found(tmp_path, line + "\n")[:1] == ["mpi.cma-ptrace-denied"]


@pytest.mark.parametrize(
    "line",
    [
        # healthy UCX trace-level probe results
        "[1712000000.101010] [gpu3:11021:0]        cma_md.c:114  UCX  TRACE ptrace_scope is 0, CMA is supported",
        "ptrace_scope is 1, enabled PR_SET_PTRACER_ANY, CMA is supported",
        "ptrace_scope is 2, process has CAP_SYS_PTRACE, CMA is supported",
    ],
)
def test_cma_supported_probe_stays_clean(tmp_path: Path, line: str) -> None:
    assert "mpi.cma-ptrace-denied" not in _found(tmp_path, line + "\n")


@pytest.mark.parametrize(
    "line",
    [
        # SchedMD/slurm src/plugins/gres/gpu/gres_gpu.c _merge_system_gres_conf
        "[2024-05-01T10:00:00.000] error: This GPU specified in [slurm|gres].conf has mismatching Cores or Links from the device found on the system. Ignoring it.",
        "[2024-05-01T10:00:00.000] error: Discarding the following config-only GPU due to lack of File specification:",
        # src/common/gres.c node_config_validate reason_down
        "   Reason=gres/gpu count changed and jobs are using them (4 != 8) [slurm@2024-05-01T10:02:11]",
    ],
)
def test_slurmd_gpu_merge_errors_are_named(tmp_path: Path, line: str) -> None:
    assert _found(tmp_path, line + "\n")[:1] == ["slurm.gres-unavailable"]


@pytest.mark.parametrize(
    "line",
    [
        "slurmd: debug:  Including the following GPU matched between system and configuration:",
        # an info line after a reconfigure, no job affected
        "slurmctld: gres/gpu: count changed for node gpu07 from 4 to 8",
    ],
)
def test_slurmd_gpu_merge_neighbours_stay_clean(tmp_path: Path, line: str) -> None:
    assert "slurm.gres-unavailable" not in _found(tmp_path, line + "\n")
