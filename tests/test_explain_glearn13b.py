"""Issue 13, heldout13 lessons (glearn13b): the shm / RDMA / MPI families behind its misses.

Every line is written from the upstream format string its signature cites (not copied from the heldout13 logs):
coreutils df's columns, torch's DataLoader SIGBUS text, Intel MPI's DAPL start-up check, Open MPI's openib/usNIC
help texts and TCP BTL accept path, bash/procfs/tcsh limit listings, libfabric's EFA abort message, UCX's posix
transport, and the OSU Micro-Benchmarks header that only a rank past MPI_Init prints.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import findings as _findings
from explain_helpers import notes as _notes
from tpdoctor.explain import explain

# coreutils df -h / df (1K-blocks): "Filesystem Size Used Avail Use% Mounted on"
DF_HEAD = "Filesystem      Size  Used Avail Use% Mounted on\n"
# openucx/ucx ib_log.c (v1.15+): "%s: %s() failed: %m" + " : Please set max locked memory (ulimit -l) to 'unlimited'
# (current: %llu kbytes)" (the earlier form ends its sentence with ". Please set ...")
UCX_MEMLOCK = (
    "[1700000000.000001] [node:{pid}:0]          ib_log.c:246  UCX  ERROR mlx5_0: ibv_create_cq() failed: Cannot "
    "allocate memory. Please set max locked memory (ulimit -l) to 'unlimited' (current: 64 kbytes)\n"
)
# osu-micro-benchmarks print_preamble: HEADER "# " BENCHMARK " v" PACKAGE_VERSION, then "# Size" and the column
OSU_HEAD = "# OSU MPI Allreduce Latency Test v7.2\n# Size       Avg Latency(us)\n4                       1.31\n"
# libfabric prov/efa/src/efa_base_ep.c efa_base_ep_write_eq_error fprintf
EFA_ABORT = (
    "Libfabric EFA provider has encountered an internal error:\n\n"
    "Libfabric error: ({err}) {text}\n"
    "EFA internal error: ({prov}) {prov_text}\n\n"
    "Your application will now abort().\n"
)
# open-mpi/ompi help-mpi-btl-openib.txt [init-fail-no-mem] as opal_show_help prints it
OPENIB_NO_MEM = (
    "--------------------------------------------------------------------------\n"
    "The OpenFabrics (openib) BTL failed to initialize while trying to\n"
    "allocate some locked memory.  This typically can indicate that the\n"
    "memlock limits are set too low.  For most HPC installations, the\n"
    'memlock limits should be set to "unlimited".  The failure occured\n'
    "here:\n\n"
    "  Local host:    node01\n"
    "  OMPI source:   btl_openib.c:{line}\n"
    "  Function:      ibv_create_cq()\n"
    "  Device:        mlx5_0\n"
    "  Memlock limit: {limit}\n"
)
# open-mpi/ompi help-mpi-btl-tcp.txt [dropped inbound connection]
TCP_DROPPED = (
    "Open MPI detected an inbound MPI TCP connection request from a peer\n"
    "that appears to be part of this MPI job (i.e., it identified itself as\n"
    "part of this Open MPI job), but it is from an IP address that is\n"
    "unexpected.  This is highly unusual.\n\n"
    "  Local host:          node01\n"
    "  Local PID:           4242\n"
    "  Peer hostname:       node02 ([[1234,1],1])\n"
    "  Source IP of socket: 10.32.0.4\n"
    "  Known IPs of peer:   \n\t172.17.0.2\n\t192.168.1.12\n"
)
# openucx/ucx mm_posix.c uct_posix_open_check_result("open", "/proc/%d/fd/%d", ...): "%s(file_name=%s flags=0x%x)
# failed: %m"
UCX_PROC_OPEN = (
    "[1700000000.000002] [node:{me}:0]       mm_posix.c:195  UCX  ERROR open(file_name=/proc/{peer}/fd/20 flags=0x0) "
    "failed: {err}\n"
)
# open-mpi/ompi btl_tcp_endpoint.c mca_btl_tcp_endpoint_complete_connect: v2.x BTL_ERROR (prefix
# "[%s]%s[%s:%d:%s] " host, name, file, line, func) "connect() to %s failed: %s (%d)"; v3+ help-mpi-btl-tcp.txt
# [client connect fail] with msg "connect() to %s:%d failed"
TCP_CONNECT_V2 = (
    "[node1][[27443,1],0][btl_tcp_endpoint.c:800:mca_btl_tcp_endpoint_complete_connect] connect() to {addr} "
    "failed: {err}\n"
)
TCP_CONNECT_V3 = (
    "WARNING: Open MPI failed to TCP connect to a peer MPI process.  This\nshould not happen.\n\n"
    "Your Open MPI job may now hang or fail.\n\n  Local host: node1\n  PID:        4242\n"
    "  Message:    connect() to {addr} failed\n  Error:      {err}\n"
)


@pytest.mark.parametrize(
    ("text", "cause", "strength"),
    [
        # a full /dev/shm, as df -h and df (1K blocks) print it, in Docker ("shm") and elsewhere ("tmpfs")
        (DF_HEAD + "shm              64M   64M     0 100% /dev/shm\n", "shm.too-small", "suggests"),
        (DF_HEAD + "tmpfs           65536   65536         0 100% /dev/shm\n", "shm.too-small", "suggests"),
        # torch's SIGBUS verdict retold in a title
        ("训练时提示 bus error, insufficient shared memory (shm)\n", "shm.too-small", "suggests"),
        # Intel MPI's DAPL start-up check, one line per rank
        ("[0] DAPL startup: RLIMIT_MEMLOCK too small\n[1] DAPL startup: RLIMIT_MEMLOCK too small\n",
         "rdma.memlock-too-low", "proves"),
        # Open MPI openib help with the finite limit it read, and with the limit cut off
        (OPENIB_NO_MEM.format(line=155, limit=65536), "rdma.memlock-too-low", "proves"),
        (OPENIB_NO_MEM.format(line=155, limit=65536).split("  Memlock")[0], "rdma.memlock-too-low", "suggests"),
        # limit listings taken where the ranks run: bash ulimit -a, /proc/<pid>/limits, tcsh limit
        ("max locked memory       (kbytes, -l) 64\nmax memory size         (kbytes, -m) unlimited\n",
         "rdma.memlock-too-low", "suggests"),
        ("Limit                     Soft Limit           Hard Limit           Units     \n"
         "Max locked memory         8388608              8388608              bytes     \n",
         "rdma.memlock-too-low", "suggests"),
        ("memorylocked 64 kbytes\n", "rdma.memlock-too-low", "suggests"),
        # EFA's abort on ENOMEM posting its internal RX buffers (current "encountered", v1.16's "encounterd")
        (EFA_ABORT.format(err=-12, text="Cannot allocate memory", prov=4112,
                          prov_text="Failure to post internal receive buffers"), "rdma.memlock-too-low", "suggests"),
        (EFA_ABORT.replace("encountered", "encounterd").format(
            err=-12, text="Cannot allocate memory", prov=4100, prov_text="Failure to post packet"),
         "rdma.memlock-too-low", "suggests"),
        # UCX posix transport refused the peer's /proc/<pid>/fd link (ranks in different user namespaces)
        (UCX_PROC_OPEN.format(me=11, peer=12, err="Permission denied"), "topology.ranks-split-across-containers",
         "suggests"),
        # UCX's mm endpoint alone (the attach error itself cut off): a consequence, still the same guess
        ("[1700000000.000003] [node:11:0]          mm_ep.c:155  UCX  ERROR mm ep failed to connect to remote FIFO id "
         "0xc00000050002ca58: Shared memory error\n", "topology.ranks-split-across-containers", "suggests"),
        # Open MPI's TCP BTL dropped a connection from an address the peer is not known by
        (TCP_DROPPED, "network.wrong-interface", "suggests"),
        # Open MPI's TCP BTL could not reach an advertised address: v2.x BTL_ERROR, v3+ help message with a bridge address
        (TCP_CONNECT_V2.format(addr="10.0.3.12", err="No route to host (113)"), "network.wrong-interface", "suggests"),
        (TCP_CONNECT_V2.format(addr="172.17.0.1", err="Connection refused (111)"), "network.wrong-interface",
         "suggests"),
        (TCP_CONNECT_V3.format(addr="172.17.0.1:1024", err="Connection refused (111)"), "network.wrong-interface",
         "suggests"),
    ],
)
def test_a_heldout13_family_form_is_named(tmp_path: Path, text: str, cause: str, strength: str) -> None:
    found = _findings(tmp_path, text)
    assert found and found[0] == (cause, strength), found


@pytest.mark.parametrize(
    ("text", "wrong"),
    [
        # /dev/shm with room left, or another mount full
        (DF_HEAD + "shm              64M  1.2M   63M   2% /dev/shm\n", "shm.too-small"),
        (DF_HEAD + "overlay         100G  100G     0 100% /\n", "shm.too-small"),
        (DF_HEAD + "tmpfs            32G   32G     0 100% /dev/shm/extra\n", "shm.too-small"),
        # a bus error with no word of shared memory, or shared memory with no bus error and no "(shm)"
        ("Bus error while reading the dataset header\n", "shm.too-small"),
        ("insufficient shared memory for the cache, falling back to disk\n", "shm.too-small"),
        # unlimited or large limits, in every listing
        ("max locked memory       (kbytes, -l) unlimited\n", "rdma.memlock-too-low"),
        ("max locked memory       (kbytes, -l) 2097152\n", "rdma.memlock-too-low"),
        ("Max locked memory         unlimited            unlimited            bytes     \n", "rdma.memlock-too-low"),
        ("memorylocked unlimited\n", "rdma.memlock-too-low"),
        (OPENIB_NO_MEM.format(line=155, limit="unlimited").split("allocate some")[0] + "  Memlock limit: unlimited\n",
         "rdma.memlock-too-low"),
        # EFA aborting on another error, and libfabric's generic ENOMEM elsewhere
        (EFA_ABORT.format(err=-5, text="Input/output error", prov=4113, prov_text="Failure posting handshake to peer"),
         "rdma.memlock-too-low"),
        # a refused connection to a routed address (the peer may have died), and Open MPI's verbose dial line
        (TCP_CONNECT_V2.format(addr="10.0.3.12", err="Connection refused (111)"), "network.wrong-interface"),
        (TCP_CONNECT_V3.format(addr="10.0.3.12:1024", err="Connection refused (111)"), "network.wrong-interface"),
        ("[node1:06805] btl: tcp: attempting to connect() to [[27443,1],1] address 172.17.0.1 on port 1024\n",
         "network.wrong-interface"),
        # the peer's link is gone (ENOENT): another signature's cause, never the userns one
        (UCX_PROC_OPEN.format(me=11, peer=12, err="No such file or directory"), "mpi.cma-ptrace-denied"),
    ],
)
def test_near_forms_name_not_that_cause(tmp_path: Path, text: str, wrong: str) -> None:
    found = _findings(tmp_path, text)
    assert not any(c == wrong for c, _ in found), found


def test_a_small_memlock_listing_on_one_nccl_node_is_a_note(tmp_path: Path) -> None:
    # NCCL src/init.cc "comm %p rank %d nRanks %d nNodes %d localRanks %d localRank %d MNNVL %d" gives n_nodes
    text = (
        "max locked memory       (kbytes, -l) 64\n"
        "node1:100:100 [0] NCCL INFO comm 0x5581 rank 0 nRanks 2 nNodes 1 localRanks 2 localRank 0 MNNVL 0\n"
    )
    assert _findings(tmp_path, text) == []
    assert any("harmless here" in n for n in _notes(tmp_path, text))


def test_ucx_memlock_lines_before_a_benchmark_that_ran_are_a_notice(tmp_path: Path) -> None:
    # the OSU header comes from rank 0 after MPI_Init returned: the failed CQ did not stop the run
    text = "$ mpirun -n 2 --mca btl sm,self osu_allreduce\n" + UCX_MEMLOCK.format(pid=1) + UCX_MEMLOCK.format(pid=2)
    assert _findings(tmp_path, text)[0] == ("rdma.memlock-too-low", "proves")
    assert _findings(tmp_path, text + OSU_HEAD) == []
    log = tmp_path / "osu.log"
    log.write_text(text + OSU_HEAD)
    kept = [(f.cause, f.severity.value) for f in explain([str(log)]).findings]
    assert kept == [("rdma.memlock-too-low", "notice")], kept


def test_the_fifo_attach_consequence_ranks_after_a_specific_cause(tmp_path: Path) -> None:
    # a /dev/shm that ran out (UCX's ENOSPC line, ucx.shm-no-space) before the FIFO line: the specific line leads
    text = (
        "[1700000000.000001] [node:11:0]     mm_posix.c:206  UCX  ERROR Not enough memory to write total of 33554432 "
        "bytes. Please check that /dev/shm or the directory you specified has more available memory.\n"
        "[1700000000.000003] [node:11:0]          mm_ep.c:155  UCX  ERROR mm ep failed to connect to remote FIFO id "
        "0xc00000050002ca58: Shared memory error\n"
    )
    assert _findings(tmp_path, text)[0] == ("shm.too-small", "suggests")


def test_ucx_memlock_lines_after_the_benchmark_header_still_block(tmp_path: Path) -> None:
    # an error printed after the header is not one the run got past
    text = OSU_HEAD + UCX_MEMLOCK.format(pid=1)
    assert _findings(tmp_path, text)[0] == ("rdma.memlock-too-low", "proves")
