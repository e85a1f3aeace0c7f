"""Issue 13, heldout29 lessons (glearn29b): compose implementations that drop keys, enroot's data paths, hosts told
apart by a cut hostname, Open MPI's run-as-root refusal in words, a non-root user outside the render group, and a
port already taken under NCCL's generic system error.

Lines are written from the code that prints them (not copied from the heldout29 logs):
- nerdctl compose's warnUnknownFields ("Ignoring: service %s: %+v" with Go field names; "deploy.resources: %+v");
  GroupAdd is applied since v1.7.3 yet still warned about;
- podman-compose before v1.0.6 drops group_add silently ("podman-composer version  %s" up to 1.0.3);
- enroot.in's `mkdir -p "$ENROOT_CACHE_PATH" "$ENROOT_DATA_PATH" "$ENROOT_RUNTIME_PATH"` behind pyxis's log prefix;
- NCCL < 2.4.8's getHostName cut at the first '.' (in words only);
- Open MPI / PRRTE's run-as-root help text and hccl_demo's find_interface exit;
- NCCL's SYSCHECK "Call to bind failed : Address already in use" and torch <= 1.12's bare TCPStore error.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import causes as _causes
from explain_helpers import findings as _findings
from explain_helpers import notes as _notes


def _taught(tmp_path: Path, text: str, cause: str) -> None:
    """The family's own line is named (so a neighbour's test fails without this change too)."""
    assert cause in _causes(tmp_path, text)


# --- nerdctl compose: keys dropped with a warning -----------------------------------------------------------------


@pytest.mark.parametrize(
    "line",
    [
        "WARN[0000] Ignoring: service trainer: [Ipc]",
        'time="2024-05-01T09:00:00Z" level=warning msg="Ignoring: service tp0: [DeviceCgroupRules Ipc UsernsMode]"',
        "WARN[0001] Ignoring: service infer: [Devices]",
        "WARN[0000] Ignoring: service worker-1: [ShmSize Ulimits]",
        "WARN[0000] Ignoring: service gpu: deploy.resources: [Reservations]",
        "WARN[0000] Ignoring: service gpu: deploy.resources.resources.reservations: [Devices]",
    ],
)
def test_nerdctl_compose_drops_a_key_that_matters(tmp_path: Path, line: str) -> None:
    assert _findings(tmp_path, line + "\n") == [("compose.key-ignored", "suggests")]


@pytest.mark.parametrize(
    "text",
    [
        "WARN[0000] Ignoring: service render: [GroupAdd]\n",
        "nerdctl version 1.7.0\nWARN[0000] Ignoring: service render: [GroupAdd]\n",
        'level=warning msg="Ignoring: service app: [GroupAdd Healthcheck]"\n',
    ],
)
def test_nerdctl_compose_group_add_dropped_before_1_7_3(tmp_path: Path, text: str) -> None:
    assert _findings(tmp_path, text) == [("compose.key-ignored", "suggests")]


@pytest.mark.parametrize("version", ["1.7.3", "1.7.6", "v2.0.0", "2.1.2"])
def test_nerdctl_group_add_warning_is_a_leftover_on_newer_releases(tmp_path: Path, version: str) -> None:
    text = f"nerdctl version {version}\nWARN[0000] Ignoring: service render: [GroupAdd]\n"
    assert _causes(tmp_path, text) == []
    assert any("applies it since v1.7.3" in n for n in _notes(tmp_path, text))


@pytest.mark.parametrize(
    "line",
    [
        # harmless keys, other nerdctl warnings, docker compose's own words
        "WARN[0000] Ignoring: service web: [Labels Healthcheck]",
        "WARN[0000] Ignoring: service db: healthcheck: [StartInterval]",
        "WARN[0000] Ignoring: service api: depends_on: db: condition service_healthy",
        "WARN[0000] Ignoring: service api: deploy.restart_policy: [Delay MaxAttempts]",
        "Ignoring: build: [Ulimits]",
    ],
)
def test_nerdctl_compose_harmless_keys_stay_clean(tmp_path: Path, line: str) -> None:
    assert _causes(tmp_path, line + "\n") == []
    _taught(tmp_path, "WARN[0000] Ignoring: service web: [Labels Ipc]\n", "compose.key-ignored")


# --- podman-compose before 1.0.6: group_add dropped silently ---------------------------------------------------------

COMPOSE = "services:\n  infer:\n    image: intel/vllm:xpu\n    devices:\n      - /dev/dri\n    group_add:\n      - '{gid}'\n"


@pytest.mark.parametrize(
    "version_line",
    ["podman-composer version  1.0.3", "podman-composer version  1.0.2", "podman-compose version  0.1.7dev"],
)
def test_old_podman_compose_with_group_add(tmp_path: Path, version_line: str) -> None:
    text = "$ podman-compose version\nusing podman version: 4.3.1\n" + version_line + "\n" + COMPOSE.format(gid=992)
    assert _findings(tmp_path, text) == [("compose.key-ignored", "suggests")]


@pytest.mark.parametrize(
    "text",
    [
        # a release that passes group_add on
        "podman-compose version: 1.0.6\n" + COMPOSE.format(gid=992),
        "podman-compose version 1.3.0\n" + COMPOSE.format(gid=992),
        # an old release with no group_add in the file
        "podman-composer version  1.0.3\nservices:\n  infer:\n    image: alpine\n    command: id\n",
    ],
)
def test_podman_compose_group_add_neighbours_stay_clean(tmp_path: Path, text: str) -> None:
    assert _causes(tmp_path, text) == []
    _taught(tmp_path, "podman-composer version  1.0.3\n" + COMPOSE.format(gid=44), "compose.key-ignored")


# --- enroot's cache/data path not creatable by the job's user -------------------------------------------------------


@pytest.mark.parametrize(
    "line",
    [
        "Mar 02 10:00:00 node7 slurmd[812]: spank-epilog: error: pyxis:     mkdir: cannot create directory "
        "'/scratch/enroot/data': Permission denied",
        "slurmstepd: error: pyxis:     mkdir: cannot create directory ‘/raid/containers’: Permission denied",
        "mkdir: cannot create directory '/local/enroot-cache/group-1003': Permission denied",
        "mkdir: cannot create directory '/home/alice/.local/share/enroot': Permission denied",
    ],
)
def test_enroot_path_not_creatable(tmp_path: Path, line: str) -> None:
    assert _findings(tmp_path, line + "\n") == [("slurm.enroot-path-unusable", "suggests")]


def test_enroot_default_runtime_path_at_step_start(tmp_path: Path) -> None:
    # enroot's default ENROOT_RUNTIME_PATH (/run/enroot) refused at a step's start (pyxis#12: pyxis's README sets
    # /run/enroot/user-$(id -u))
    line = "slurmstepd: error: pyxis:     mkdir: cannot create directory '/run/enroot': Permission denied\n"
    assert _findings(tmp_path, line) == [("slurm.enroot-path-unusable", "suggests")]


@pytest.mark.parametrize(
    "line",
    [
        # the runtime path under /run from pyxis 0.16's epilog cleanup (pyxis#123: its container_scope change), or
        # from no pyxis at all
        "Sep 24 08:26:20 n2 spank-epilog[38569]: error: pyxis:     mkdir: cannot create directory '/run/enroot': "
        "Permission denied",
        "mkdir: cannot create directory '/run/user/1001/enroot': Permission denied",
        # some other mkdir, no enroot in sight
        "mkdir: cannot create directory '/data/checkpoints': Permission denied",
        "mkdir: cannot create directory '/opt/enroot/data': File exists",
    ],
)
def test_enroot_neighbours_stay_clean(tmp_path: Path, line: str) -> None:
    assert "slurm.enroot-path-unusable" not in _causes(tmp_path, line + "\n")
    _taught(tmp_path, "pyxis:     mkdir: cannot create directory '/nvme/enroot': Permission denied\n", "slurm.enroot-path-unusable")


# --- NCCL < 2.4.8: hosts told apart by the hostname up to its first dot ---------------------------------------------


@pytest.mark.parametrize(
    "line",
    [
        "NCCL is trying IPC between two different hosts that have the same prefix before \".\" and it fails",
        "NCCL only reads the hostname up to the first dot, so gpu01.rack1 and gpu01.rack2 look like one machine",
        "The code keeps the hostname till first '.', which both of our nodes share",
        "our hosts share a common prefix before the domain (node1.a.example, node1.b.example)",
    ],
)
def test_hostname_prefix_collision_in_words(tmp_path: Path, line: str) -> None:
    assert _findings(tmp_path, line + "\n") == [("network.duplicate-hostname", "suggests")]


@pytest.mark.parametrize(
    "line",
    [
        # Slurm-style naming talk, not a collision
        "All hostnames share the same prefix gpu-node, numbered 01 to 16",
        "The hosts have a common prefix in the hostfile: node[01-04]",
        "Set the prefix of the first dot product kernel",
    ],
)
def test_hostname_prefix_neighbours_stay_clean(tmp_path: Path, line: str) -> None:
    assert _causes(tmp_path, line + "\n") == []
    _taught(tmp_path, "the two hosts have the same prefix before the dot\n", "network.duplicate-hostname")


# --- Open MPI's run-as-root refusal in its help text or in words; hccl_demo's interface ------------------------------


@pytest.mark.parametrize(
    "line",
    [
        "Running as root is *strongly* discouraged as any mistake (e.g., in",
        "Running at root is *strongly* discouraged as any mistake (e.g., in",
        "You can override this protection by adding the --allow-run-as-root option",
        "1. MPI requires `--allow-run-as-root` flag to run as root user.",
        "mpirun needs --allow-run-as-root inside the container",
    ],
)
def test_run_as_root_refusal_text(tmp_path: Path, line: str) -> None:
    assert _findings(tmp_path, line + "\n") == [("mpi.run-as-root-refused", "suggests")]


@pytest.mark.parametrize(
    "text",
    [
        # the flag already on the launcher's command line: the option is applied
        "mpirun --allow-run-as-root -np 16 ./hccl_demo\nRunning as root is *strongly* discouraged as any mistake (e.g., in\n",
        # a healthy command line alone
        "mpirun --allow-run-as-root -np 8 --mca btl_tcp_if_include eth0 python train.py\n",
    ],
)
def test_run_as_root_neighbours_stay_clean(tmp_path: Path, text: str) -> None:
    assert "mpi.run-as-root-refused" not in _causes(tmp_path, text)
    _taught(tmp_path, "Running as root is *strongly* discouraged as any mistake (e.g., in\n", "mpi.run-as-root-refused")


def test_hccl_demo_no_interface(tmp_path: Path) -> None:
    line = "[find_interface] MPI requires --mca btl_tcp_if_include <interface>\n"
    assert _findings(tmp_path, line) == [("network.wrong-interface", "suggests")]


# --- a non-root user and the render group, in words ------------------------------------------------------------------


@pytest.mark.parametrize(
    "line",
    [
        "Please add the non-root user to the render group so it can use the GPU plugin",
        "/dev/dri is owned by the render group and the non-root user cannot open it",
        "Could the image's nonroot account join the render group for GPU inference?",
    ],
)
def test_nonroot_render_group_in_words(tmp_path: Path, line: str) -> None:
    assert _findings(tmp_path, line + "\n") == [("device.group-denied", "suggests")]


@pytest.mark.parametrize(
    "line",
    [
        "The render group exists on the host (GID 109).",
        "Run the container as a non-root user for security.",
    ],
)
def test_render_group_neighbours_stay_clean(tmp_path: Path, line: str) -> None:
    assert _causes(tmp_path, line + "\n") == []
    _taught(tmp_path, "the non-root user is not in the render group\n", "device.group-denied")


# --- a port already taken under NCCL's generic system error ---------------------------------------------------------

UNHANDLED = "RuntimeError: NCCL error in: /pytorch/torch/lib/c10d/ProcessGroupNCCL.cpp:784, unhandled system error, NCCL version 2.7.8\n"


@pytest.mark.parametrize(
    "line",
    [
        "node3:4182:4182 [0] NCCL WARN Call to bind failed : Address already in use",
        "RuntimeError: Address already in use",
        "torch.distributed.DistNetworkError: Address already in use",
    ],
)
def test_address_in_use_is_the_root_not_shm(tmp_path: Path, line: str) -> None:
    assert _causes(tmp_path, line + "\n" + UNHANDLED) == []
    # the generic line alone keeps its reading
    assert "shm.too-small" in _causes(tmp_path, UNHANDLED)
