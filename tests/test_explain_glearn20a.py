"""Issue 13, heldout20 lessons (glearn20a): GPUDirect RDMA / GDRCopy modules and CMA refused by ptrace rules.

Lines are written from the code that prints them (not copied from the heldout20 logs): aws-ofi-nccl's GDRCopy context
and GIN init (nccl_ofi_gdrcopy.cpp, nccl_ofi_gin_api.cpp, v1.18+), GDRCopy's libgdrapi (gdrapi.c gdr_err), NVSHMEM's
IB transports skipping themselves without nvidia-peermem (ibrc/ibdevx/ibgda), MPICH's CMA copy (cma_post.c copy_iovs,
errnames.txt **cmaread/**cmadata, MPIDI_CMA_copy_data's frame in an error stack), UCX's CMA transport as the innermost
frame of a gdb backtrace (cma_ep.c v1.4 and v1.9+), and NCCL's CUDACHECK with cudaErrorStubLibrary from the weak
stand-ins of a statically linked NCCL (enhcompat.cc, 2.12+).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import all_causes, causes, findings, notes

GDR = "rdma.gdr-module-missing"
CMA = "mpi.cma-ptrace-denied"


@pytest.mark.parametrize(
    "text",
    [
        # aws-ofi-nccl: NCCL_OFI_INFO in nccl_ofi_gdrcopy_ctx(), then NCCL_OFI_WARN in nccl_ofi_gin_init
        "ip-10-0-1-7:311:402 [3] NCCL INFO NET/OFI Failed to open gdr handle\n",
        "ip-10-0-1-7:311:402 [3] nccl_ofi_gin_init:71 NCCL WARN NET/OFI Failed to initialize GDRCopy: "
        "Failed to open gdr handle\n",
        # GDRCopy's libgdrapi with GDRCOPY_ENABLE_LOGGING=1: gdr_err("error opening driver (errno=%d/%s)")
        "ERR:  error opening driver (errno=2/No such file or directory)\n",
        "ERR:  error opening driver (errno=13/Permission denied)\n",
        # GDRCopy 2.5+: neither gdrdrv nor dma-buf mmap
        "ERR:  Error: gdrcopy requires gdrdrv or CUDA driver with dmabuf mmap support (at least one is required)\n",
    ],
)
def test_gdrcopy_handle_not_opened_names_the_module(tmp_path: Path, text: str) -> None:
    assert findings(tmp_path, text)[:1] == [(GDR, "suggests")]


@pytest.mark.parametrize(
    "text",
    [
        # the library absent from the image, or too old: not the kernel module
        "h:1:2 [0] nccl_ofi_gin_init:71 NCCL WARN NET/OFI Failed to initialize GDRCopy: Could not load libgdrapi.so\n",
        "h:1:2 [0] nccl_ofi_gin_init:64 NCCL WARN NET/OFI GIN requires GDRCopy 2.5+ for forced PCIe copy support\n",
        # healthy NCCL_DEBUG=INFO lines of the plugin and GDRCopy's version probe
        "h:1:2 [0] NCCL INFO NET/OFI gin: Initializing\nh:1:2 [0] NCCL INFO NET/OFI Initializing aws-ofi-nccl 1.18.0\n",
        "GDR driver version: (2, 5)\nERR:  error opening output file (errno=2)\n",
    ],
)
def test_gdrcopy_neighbours_stay_clean(tmp_path: Path, text: str) -> None:
    assert GDR not in causes(tmp_path, text)
    # ... and the same log with the failed handle open is named
    assert GDR in causes(tmp_path, text + "h:1:2 [0] NCCL INFO NET/OFI Failed to open gdr handle\n")


def test_nvshmem_skipped_ib_transport_names_peermem_when_a_peer_is_unreached(tmp_path: Path) -> None:
    skip = "/opt/nvshmem/src/modules/transport/ibrc/ibrc.cpp:1846: neither nv_peer_mem, or nvidia_peermem detected. " \
        "Skipping transport.\n"
    skip_gda = "/opt/nvshmem/src/modules/transport/ibgda/ibgda.cpp:4559: neither nv_peer_mem, or nvidia_peermem " \
        "detected. Skipping transport.\n"
    mapfail = "/opt/nvshmem/src/host/init/init.cu:1002: non-zero status: 7 building transport map failed\n"
    peer = "/opt/nvshmem/src/host/topo/topo.cpp:489: [GPU 1] Peer GPU 4 is not accessible, exiting ...\n"
    assert findings(tmp_path, skip + mapfail)[:1] == [(GDR, "suggests")]
    assert findings(tmp_path, skip_gda + peer)[:1] == [(GDR, "suggests")]
    # one node: the skipped IB transport is harmless (P2P carries the traffic), a note only
    assert GDR not in causes(tmp_path, skip)
    assert any("nvidia-peermem" in n for n in notes(tmp_path, skip))
    # the transport map alone names no cause
    assert GDR not in all_causes(tmp_path, mapfail)


MPICH_STACK = (
    "mpi4py.MPI.Exception: Other MPI error, error stack:\n"
    "internal_Recv(130).......: MPI_Recv(buf=0x7f00, count=1048576, MPI_BYTE, src=1, tag=0, comm=0x84000000, "
    "status=0x1) failed\n"
    "MPIR_Wait(745)...........: \n"
    "MPIDI_IPC_rndv_cb(172)...: \n"
    "MPIDI_CMA_copy_data(61)..: \n"
)


def test_mpich_cma_copy_frame_and_eperm(tmp_path: Path) -> None:
    # the stack cut after the CMA frame: the copy failed, why is not shown
    assert findings(tmp_path, MPICH_STACK)[:1] == [(CMA, "suggests")]
    # the whole stack: copy_iovs' **cmaread with EPERM
    assert findings(tmp_path, MPICH_STACK + "copy_iovs(222)...........: process_vm_readv failed (errno 1)\n")[:1] == [
        (CMA, "suggests")
    ]


@pytest.mark.parametrize(
    "tail",
    [
        "copy_iovs(222)...........: process_vm_readv failed (errno 3)\n",  # ESRCH: not the ptrace refusal
        "copy_iovs(224)...........: process_vm_readv bytes mismatch, got 4096, expect 8192\n",  # **cmadata
    ],
)
def test_mpich_cma_other_endings_are_not_ptrace(tmp_path: Path, tail: str) -> None:
    assert CMA not in causes(tmp_path, MPICH_STACK + tail)
    # the CMA frame is then a note read through the copy's own text
    assert any("says how the copy ended" in n for n in notes(tmp_path, MPICH_STACK + tail))
    # and the frame line alone with the failed allocation printed on it is not the copy
    assert CMA not in causes(tmp_path, "MPIDI_CMA_copy_data(27)..: Out of memory (unable to allocate 'pack_buf')\n")


GDB_V14 = (
    "#0  uct_cma_ep_get_zcopy (tl_ep=0x1b2c3d0, iov=0x7ffd1a2b3c40, iovcnt=1,\n"
    "    remote_addr=139912345600000, rkey=18446744073709551615, comp=0x1b2c4e8)\n"
    "    at sm/cma/cma_ep.c:147\n"
    "#1  0x00007f00e1f2c073 in uct_ep_get_zcopy (comp=0x1b2c4e8, rkey=18446744073709551615,\n"
    "    remote_addr=139912345600000, iovcnt=1, iov=0x7ffd1a2b3c40, ep=0x1b2c3d0) at uct/api/uct.h:1833\n"
)
GDB_V110 = (
    "#0  0x00007f3a1c2b4e10 in uct_cma_ep_tx (tl_ep=0x1e3c5a0, iov=0x7ffd3c0e1f30, iov_cnt=1, length_p=0x7ffd3c0e1ec8,\n"
    "    remote_addr=139871324188672, rkey=0, tx_op=UCT_SCOPY_TX_GET_ZCOPY) at cma/cma_ep.c:120\n"
    "#1  0x00007f3a1c2b3a51 in uct_scopy_ep_progress_tx (arbiter=0x1e2a0c0, group=0x1e3c5c8, elem=0x1e3d2f0,\n"
)


def test_ucx_cma_innermost_backtrace_frame(tmp_path: Path) -> None:
    assert findings(tmp_path, GDB_V14)[:1] == [(CMA, "suggests")]
    assert findings(tmp_path, GDB_V110)[:1] == [(CMA, "suggests")]
    # a CMA frame deeper in the stack is only a caller of what stopped (here a wait in the progress loop)
    deeper = (
        "#0  0x00007f3a1b0e2a9d in poll () from /lib64/libc.so.6\n"
        "#1  0x00007f3a1c2b4e10 in uct_cma_ep_tx (tl_ep=0x1e3c5a0, iov=0x7ffd3c0e1f30, iov_cnt=1,\n"
    )
    assert CMA not in causes(tmp_path, deeper)


STUB_NCCL = (
    "NCCL version 2.12.12+cuda11.6\n"
    "node7:2211:2304 [0] init.cc:255 NCCL WARN Cuda failure 'CUDA driver is a stub library'\n"
    "node7:2211:2304 [0] NCCL INFO init.cc:913 -> 1\n"
    "tensorflow.python.framework.errors_impl.UnknownError: ncclCommInitRank failed: unhandled cuda error\n"
)


def test_nccl_stub_library_is_static_linkage_not_the_container(tmp_path: Path) -> None:
    # NCCL's own CUDACHECK with cudaErrorStubLibrary: the weak enhcompat stand-ins of a static NCCL
    assert "runtime.nvidia-toolkit-missing" not in all_causes(tmp_path, STUB_NCCL)
    # the framework's own CUDA call refused by a stub libcuda still names the container's driver injection
    torch_stub = "RuntimeError: CUDA error: CUDA driver is a stub library\n"
    assert "runtime.nvidia-toolkit-missing" in causes(tmp_path, torch_stub + STUB_NCCL)
