"""Issue 13, gnew32b: cause ids for container/host causes earlier blind rounds' collectors found no id for (heldout31).

Lines are written from the format strings of the code that prints them (not copied from any log):

- network.peer-name-unresolved: torch's TCPStore client (torch/csrc/distributed/c10d/socket.cpp SocketConnectOp::
  tryConnect: 'The {}network addresses of ({}, {}) cannot be retrieved (gai error: {} - {}).' as a C10D_WARNING on every
  retry, then throwTimeoutError 'The client socket has timed out after {} while trying to connect to ({}, {}).'),
  glibc's gai_strerror texts (EAI_NONAME -2, EAI_AGAIN -3, EAI_NODATA -5), NCCL src/misc/socket.cc ('Net : error
  encountered when getting address info : %s'), OpenSSH ssh.c resolve_host ('%s: Could not resolve hostname %.100s:
  %s') with mpi-operator's worker names (<job>-worker-N.<job>-worker.<ns>.svc), CPython's socket.gaierror
  ('[Errno %d] %s') under a frame of torch.distributed's rendezvous.
- device.render-node-wrong: libva va/va.c va_openDriver ('Trying to open %s', 'va_openDriver() returns %d'; the driver
  comes from the DRM node's kernel driver: nvidia-drm -> nvidia_drv_video.so), FFmpeg libavutil/hwcontext_vaapi.c
  ('libva: %s' routing, 'Failed to initialise VAAPI connection: %d (%s).'), libva-utils vainfo ('%s: vaInitialize failed
  with error code %d (%s),exit'), beside another GPU (jellyfin/jellyfin#10979: renderD128 was nvidia-drm, the AMD iGPU
  renderD129).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import all_causes as _all
from explain_helpers import findings as _findings
from explain_helpers import knowledge_ids as _ids
from explain_helpers import notes as _notes

_PEER = "network.peer-name-unresolved"
_IFACE = "network.wrong-interface"
_WRONG = "device.render-node-wrong"

_HEALTHY_NCCL = (
    "node1:4242:4242 [0] NCCL INFO Bootstrap : Using eth0:10.0.0.1<0>\n"
    "node1:4242:4242 [0] NCCL INFO NET/Plugin: No plugin found (libnccl-net.so), using internal implementation\n"
    "node1:4242:4290 [0] NCCL INFO Channel 00/02 :    0   1\n"
    "node1:4242:4290 [0] NCCL INFO Connected all rings\n"
    "node1:4242:4290 [0] NCCL INFO comm 0x55d0 rank 0 nranks 2 cudaDev 0 nvmlDev 0 busId 18000 commId 0x1a2b - Init COMPLETE\n"
)


def test_the_new_signatures_facts_and_correlations_are_loaded() -> None:
    got = _ids()
    for sid in (
        "c10d.peer-getaddrinfo-failed", "ssh.k8s-peer-name-unresolved", "py.gaierror-name-unresolved",
        "libva.nvidia-driver-tried", "vaapi.init-failed", "rendezvous-frame", "dri-other-gpu-named",
        "peer-gaierror-in-rendezvous", "peer-unresolved-not-interface", "render-node-nvidia-for-vaapi",
    ):
        assert sid in got, sid


# --- network.peer-name-unresolved ---------------------------------------------------------------------------------

# socket.cpp's warning, in the c10 log prefixes of torch 2.4+ ('[W<mmdd> <time> <tid> <file>:<line>] [c10d] ') and
# torch 1.11-2.3 ('[W socket.cpp:<line>] [c10d] ')
_GAI = "[c10d] The {fam}network addresses of ({host}, {port}) cannot be retrieved (gai error: {code} - {text})."
_NONAME = ("-2", "Name or service not known")
_AGAIN = ("-3", "Temporary failure in name resolution")
_NODATA = ("-5", "No address associated with hostname")


def _gai(prefix: str, host: str, port: int, err: tuple[str, str], fam: str = "IPv4 ") -> str:
    return f"{prefix} " + _GAI.format(fam=fam, host=host, port=port, code=err[0], text=err[1])


_TIMEOUT = "torch.distributed.DistNetworkError: The client socket has timed out after {t} while trying to connect to ({host}, {port})."
_NEW = "[W1205 10:11:12.345678 42 torch/csrc/distributed/c10d/socket.cpp:747]"
_OLD = "[W socket.cpp:464]"

_C10D_FORMS = {
    # torch 2.4+: a PyTorchJob worker whose master pod is not published by its headless service
    "torch24-noname": (_gai(_NEW, "trainer-master-0", 23456, _NONAME) + "\n") * 3
    + _TIMEOUT.format(t="900000ms", host="trainer-master-0", port=23456) + "\n",
    # torch 2.1: the leader pod of a LeaderWorkerSet by its subdomain name, EAI_AGAIN (cluster DNS has no record yet)
    "torch21-again-lws": (_gai(_OLD, "vllm-0.vllm.default", 29500, _AGAIN, fam="") + "\n") * 2
    + _TIMEOUT.format(t="600000ms", host="vllm-0.vllm.default", port=29500) + "\n",
    # a compose service name from another network, the IPv6 attempt (prefer_ipv6), EAI_NODATA
    "compose-ipv6-nodata": _gai(_NEW, "master", 29500, _NODATA, fam="IPv6 ") + "\n"
    + _TIMEOUT.format(t="300s", host="master", port=29500) + "\n",
    # torchrun's c10d rendezvous: its RendezvousConnectionError after the store client's warnings
    "elastic-c10d": _gai(_NEW, "job-rdzv", 29400, _NONAME) + "\n"
    "torch.distributed.elastic.rendezvous.api.RendezvousConnectionError: The connection to the C10d store has failed. "
    "See inner exception for details.\n",
}


@pytest.mark.parametrize("form", sorted(_C10D_FORMS))
def test_torch_retrying_getaddrinfo_until_the_connect_gives_up_is_an_unresolved_peer(tmp_path: Path, form: str) -> None:
    got = _findings(tmp_path, _C10D_FORMS[form])
    assert got and got[0] == (_PEER, "suggests"), (form, got)
    assert _IFACE not in [c for c, _ in got], (form, got)


def test_the_warnings_alone_are_a_note_while_nothing_shows_the_connect_giving_up(tmp_path: Path) -> None:
    text = ((_gai(_NEW, "trainer-master-0", 23456, _AGAIN) + "\n") * 2
            + "[I socket.cpp:800] [c10d] The client socket has connected to [trainer-master-0]:23456 on [trainer-worker-0]:51234.\n")
    assert _PEER not in [c for c, _ in _findings(tmp_path, text)], _findings(tmp_path, text)
    assert any("could not resolve the rendezvous host yet" in n for n in _notes(tmp_path, text)), _notes(tmp_path, text)


_C10D_CLEAN = {
    # the listen side resolves its own host, not a peer
    "listen-side": "[W socket.cpp:464] [c10d] The local IPv4 network addresses cannot be retrieved (gai error: -2 - "
    "Name or service not known).\n" + _TIMEOUT.format(t="600000ms", host="10.0.0.1", port=29500) + "\n",
    # a reverse lookup for printing an accepted client's address: cosmetic
    "reverse-lookup": "[W socket.cpp:218] [c10d] The hostname of the client socket cannot be retrieved. err=-3\n",
    # an unreachable address that resolves: the interface/route cause stays
    "unreachable-ip": "[W socket.cpp:663] [c10d] The client socket has failed to connect to [172.17.0.3]:29500 (errno: 113 - No route to host).\n"
    + _TIMEOUT.format(t="600000ms", host="172.17.0.3", port=29500) + "\n",
    "healthy-nccl": _HEALTHY_NCCL,
}


@pytest.mark.parametrize("form", sorted(_C10D_CLEAN))
def test_other_store_lines_are_not_an_unresolved_peer(tmp_path: Path, form: str) -> None:
    assert _PEER not in _all(tmp_path, _C10D_CLEAN[form]), form
    assert _findings(tmp_path, _C10D_FORMS["torch24-noname"])[0][0] == _PEER


def test_nccl_not_getting_address_info_names_the_peer_first(tmp_path: Path) -> None:
    # NCCL_COMM_ID=master:12345 with a name the container's DNS does not know (misc/socket.cc ncclSocketGetAddrFromString)
    text = ("node2:88:88 [0] misc/socket.cc:267 NCCL WARN Net : error encountered when getting address info : "
            "Name or service not known\n"
            "node2:88:88 [0] NCCL INFO bootstrap.cc:60 -> 3\n")
    got = _findings(tmp_path, text)
    assert got and got[0] == (_PEER, "suggests"), got


_SSH_FORMS = {
    # mpi-operator v2's launcher: mpirun's ssh to a worker its headless service does not publish yet
    "mpi-operator-svc": "ssh: Could not resolve hostname pi-worker-1.pi-worker.default.svc: Name or service not known\n"
    "--------------------------------------------------------------------------\n"
    "ORTE was unable to reliably start one or more daemons.\n",
    # the full cluster domain, EAI_AGAIN
    "cluster-local-again": "ssh: Could not resolve hostname llama-worker-0.llama-worker.training.svc.cluster.local: "
    "Temporary failure in name resolution\n",
}


@pytest.mark.parametrize("form", sorted(_SSH_FORMS))
def test_ssh_not_resolving_a_worker_pod_name_is_an_unresolved_peer(tmp_path: Path, form: str) -> None:
    got = _findings(tmp_path, _SSH_FORMS[form])
    assert got and got[0] == (_PEER, "suggests"), (form, got)


_SSH_CLEAN = {
    # DeepSpeed's example hostfile name copied as is: launcher configuration (a dev negative, thu-coai/EVA#4)
    "bare-hostfile-name": "ssh: Could not resolve hostname node-0: Name or service not known\n",
    # an old Open MPI reading Horovod's '-H localhost:4' as a host name (a dev negative, athena-team/athena#139)
    "host-slots-syntax": "ssh: Could not resolve hostname localhost:4: Temporary failure in name resolution\n",
    # a git remote over ssh
    "git-remote": "ssh: Could not resolve hostname github.com: Temporary failure in name resolution\n"
    "fatal: Could not read from remote repository.\n",
}


@pytest.mark.parametrize("form", sorted(_SSH_CLEAN))
def test_ssh_not_resolving_other_names_is_not_an_unresolved_peer(tmp_path: Path, form: str) -> None:
    assert _PEER not in _all(tmp_path, _SSH_CLEAN[form]), form
    assert _findings(tmp_path, _SSH_FORMS["mpi-operator-svc"])[0][0] == _PEER


_FRAMES = (
    "Traceback (most recent call last):\n"
    '  File "/workspace/train.py", line 41, in <module>\n'
    '    dist.init_process_group("nccl")\n'
    '  File "/usr/local/lib/python3.10/dist-packages/torch/distributed/distributed_c10d.py", line 1305, in init_process_group\n'
    "    store, rank, world_size = next(rendezvous_iterator)\n"
    '  File "/usr/local/lib/python3.10/dist-packages/torch/distributed/rendezvous.py", line 246, in _env_rendezvous_handler\n'
    "    store = _create_c10d_store(master_addr, master_port, rank, world_size, timeout, use_libuv)\n"
)


@pytest.mark.parametrize("err", [_NONAME, _AGAIN, _NODATA], ids=["noname", "again", "nodata"])
def test_a_gaierror_under_the_rendezvous_frames_is_an_unresolved_peer(tmp_path: Path, err: tuple[str, str]) -> None:
    text = _FRAMES + f"socket.gaierror: [Errno {err[0]}] {err[1]}\n"
    got = _findings(tmp_path, text)
    assert got and got[0] == (_PEER, "suggests"), got


_GAI_CLEAN = {
    # a model download that cannot resolve huggingface.co: an outage / proxy matter, not a peer of the job
    "hf-download": (
        "Traceback (most recent call last):\n"
        '  File "/usr/local/lib/python3.10/dist-packages/urllib3/connection.py", line 203, in _new_conn\n'
        "    sock = connection.create_connection(\n"
        '  File "/usr/lib/python3.10/socket.py", line 955, in getaddrinfo\n'
        "    for res in _socket.getaddrinfo(host, port, family, type, proto, flags):\n"
        "socket.gaierror: [Errno -3] Temporary failure in name resolution\n"
        "urllib3.exceptions.NameResolutionError: <urllib3.connection.HTTPSConnection object at 0x7f3a>: Failed to "
        "resolve 'huggingface.co' ([Errno -3] Temporary failure in name resolution)\n"),
    # torch 1.0's TCPStore (the worker started before the master's service existed: a dev negative,
    # kubeflow/pytorch-operator#125): no gaierror, the ValueError of that release
    "old-tcpstore-valueerror": _FRAMES.replace("_create_c10d_store(master_addr, master_port, rank, world_size, timeout, use_libuv)",
                                               "TCPStore(master_addr, master_port, start_daemon)")
    + "ValueError: host not found: Name or service not known\n",
    # a single node's Gloo loopback warning stays a note
    "gloo-loopback": "[W ProcessGroupGloo.cpp:721] Warning: Unable to resolve hostname to a (local) address. Using the "
    "loopback address as fallback. Manually set the network interface to bind to with GLOO_SOCKET_IFNAME.\n",
}


@pytest.mark.parametrize("form", sorted(_GAI_CLEAN))
def test_other_resolution_failures_are_not_an_unresolved_peer(tmp_path: Path, form: str) -> None:
    assert _PEER not in _all(tmp_path, _GAI_CLEAN[form]), form
    assert _findings(tmp_path, _FRAMES + "socket.gaierror: [Errno -2] Name or service not known\n")[0][0] == _PEER


# --- device.render-node-wrong -------------------------------------------------------------------------------------

_AV = "[AVHWDeviceContext @ 0x55d1c3a0e2c0] "
_FFMPEG_NVIDIA = (
    f"{_AV}libva: VA-API version 1.20.0\n"
    f"{_AV}libva: Trying to open /usr/lib/jellyfin-ffmpeg/lib/dri/nvidia_drv_video.so\n"
    f"{_AV}libva: va_openDriver() returns -1\n"
    f"{_AV}Failed to initialise VAAPI connection: -1 (unknown libva error).\n"
    "Device creation failed: -5.\n"
)
_VAINFO_NVIDIA = (
    "libva info: VA-API version 1.20.0\n"
    "libva info: Trying to open /usr/lib/x86_64-linux-gnu/dri/nvidia_drv_video.so\n"
    "libva info: va_openDriver() returns -1\n"
    "vainfo: vaInitialize failed with error code -1 (unknown libva error),exit\n"
)

_WRONG_FORMS = {
    # Jellyfin's ffmpeg given renderD128 on a host whose AMD iGPU is renderD129 (the user's words beside it)
    "jellyfin-amd-igpu": "Host: RTX 3060 + AMD Radeon 680M iGPU, --device /dev/dri:/dev/dri\n"
    "ffmpeg -init_hw_device vaapi=va:/dev/dri/renderD128 -i input.mkv\n" + _FFMPEG_NVIDIA,
    # vainfo on the node the container got, the other node listed
    "vainfo-renderD129-listed": "crw-rw---- 1 root render 226, 129 Dec  5 08:00 renderD129\n" + _VAINFO_NVIDIA,
    # an Intel iGPU by name beside it
    "vainfo-intel-uhd": "Intel(R) UHD Graphics 770 should do QSV/VAAPI here\n" + _VAINFO_NVIDIA,
}


@pytest.mark.parametrize("form", sorted(_WRONG_FORMS))
def test_vaapi_opening_the_nvidia_node_beside_another_gpu_is_the_wrong_render_node(tmp_path: Path, form: str) -> None:
    got = _findings(tmp_path, _WRONG_FORMS[form])
    assert got and got[0] == (_WRONG, "suggests"), (form, got)


_WRONG_CLEAN = {
    # an NVIDIA-only host: nothing shows another GPU the node could have been meant for
    "nvidia-only": _VAINFO_NVIDIA,
    # nvidia-vaapi-driver installed: libva opens it and works
    "nvidia-vaapi-works": "Intel(R) UHD Graphics 630 is disabled in the BIOS\n"
    "libva info: Trying to open /usr/lib/x86_64-linux-gnu/dri/nvidia_drv_video.so\n"
    "libva info: Found init function __vaDriverInit_1_20\nlibva info: va_openDriver() returns 0\n"
    "vainfo: Driver version: VA-API NVDEC driver [direct backend]\n",
    # the Intel driver failing on an Intel node: another cause
    "ihd-fails": "AMD Radeon RX 6600 in the second slot\n"
    "libva info: Trying to open /usr/lib/x86_64-linux-gnu/dri/iHD_drv_video.so\n"
    "libva info: Found init function __vaDriverInit_1_20\nlibva error: /usr/lib/x86_64-linux-gnu/dri/iHD_drv_video.so init failed\n"
    "libva info: va_openDriver() returns 1\nvainfo: vaInitialize failed with error code 1 (operation failed),exit\n",
    "healthy-nccl": _HEALTHY_NCCL,
}


@pytest.mark.parametrize("form", sorted(_WRONG_CLEAN))
def test_other_vaapi_lines_are_not_the_wrong_render_node(tmp_path: Path, form: str) -> None:
    assert _WRONG not in _all(tmp_path, _WRONG_CLEAN[form]), form
    assert _findings(tmp_path, _WRONG_FORMS["vainfo-renderD129-listed"])[0][0] == _WRONG
