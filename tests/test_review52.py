"""review52: bugs found reviewing glearn50a (CUDA read against the driver), glearn50c (a port filtered on the
rendezvous host), gwild50 (audit --fix on real files) and gsafe50 (the redactor's new shapes).

Lines are written from the code that prints them:
- the NGC / nvidia/cuda entrypoint (50-gpu-driver-check.sh): "NOTE: CUDA Forward Compatibility mode ENABLED." then
  "  Using CUDA 12.1 driver version 530.30.02 with kernel driver version 470.161.03.", printed only when the image's
  cuda-compat libcuda initialised ("CUDA Driver OK"): the newer CUDA runs on that driver;
- NCCL's connect failures and torchrun's options as tests/test_explain_glearn50c.py writes them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import causes

SMI_470 = "| NVIDIA-SMI 470.161.03   Driver Version: 470.161.03   CUDA Version: 11.4     |\n"
FWD_COMPAT = (
    "NOTE: CUDA Forward Compatibility mode ENABLED.\n"
    "  Using CUDA 12.1 driver version 530.30.02 with kernel driver version 470.161.03.\n"
    "  See https://docs.nvidia.com/deploy/cuda-compatibility/ for details.\n"
)


@pytest.mark.parametrize(
    "built",
    ["CUDA used to build PyTorch: 12.1", "==========\n== CUDA ==\n==========\n\nCUDA Version 12.1.1"],
)
def test_forward_compatibility_enabled_runs_the_newer_cuda(tmp_path: Path, built: str) -> None:
    """A healthy NGC / nvidia/cuda log on a data-center driver 470 with the image's compat libcuda in use: the
    entrypoint says it works, and glearn50a's toolkit_above_driver named cuda.driver-too-old, a blocker."""
    text = SMI_470 + built + "\n" + FWD_COMPAT + "epoch 1 step 100 loss 0.412\n"
    assert "cuda.driver-too-old" not in causes(tmp_path, text)
    # the same versions without the note still suggest the driver
    assert "cuda.driver-too-old" in causes(tmp_path, SMI_470 + built + "\n")


@pytest.mark.parametrize(
    "requirement",
    [
        "Requirements: NVIDIA driver 450 or newer.",
        "- NVIDIA driver version 470 or later (CUDA 11.4+)",
        "Install NVIDIA driver 470+ first.",
        "The image needs NVIDIA driver version 450.80.02 or newer.",
        "requires NVIDIA driver 470 on the host",
        "Minimum NVIDIA driver version: 450.80.02",
    ],
)
def test_a_stated_driver_requirement_is_not_the_installed_driver(tmp_path: Path, requirement: str) -> None:
    """A README's requirement next to the image it builds on: glearn50a read the minimum as the host's driver."""
    text = requirement + "\nFROM nvidia/cuda:12.1.0-devel-ubuntu22.04\n"
    assert "cuda.driver-too-old" not in causes(tmp_path, text)


@pytest.mark.parametrize(
    "installed",
    ["I work under Ubuntu 18.04 and NVIDIA drivers 390.", "My NVIDIA driver version is 418.67", "apt install nvidia-driver-470"],
)
def test_a_stated_installed_driver_still_counts(tmp_path: Path, installed: str) -> None:
    text = installed + "\nFROM nvidia/cuda:12.1.0-devel-ubuntu22.04\n"
    assert "cuda.driver-too-old" in causes(tmp_path, text)


@pytest.mark.parametrize(
    "comment",
    [
        "# nvidia/cuda:12.4.1-devel-ubuntu22.04 needs driver 550; we stay on 11.8",
        "# FROM nvidia/cuda:12.4.1-devel-ubuntu22.04",
        "    # image: nvidia/cuda:12.4.1-runtime-ubuntu22.04",
    ],
)
def test_an_nvidia_cuda_tag_in_a_comment_is_not_the_image(tmp_path: Path, comment: str) -> None:
    """The Dockerfile's live FROM is 11.8 (minor-version compatible with the 470 driver); the commented-out 12.4 tag
    came first and was read as the CUDA the image runs."""
    text = comment + "\nFROM nvidia/cuda:11.8.0-devel-ubuntu22.04\n" + SMI_470 + "step 10 loss 1.2\n"
    assert "cuda.driver-too-old" not in causes(tmp_path, text)
    # a root shell's prompt (`# docker run ...`) is a command, not a comment
    prompt = "# docker run --gpus all nvidia/cuda:12.4.1-devel-ubuntu22.04 nvidia-smi\n" + SMI_470
    assert "cuda.driver-too-old" in causes(tmp_path, prompt)


_TAIL = (
    "RuntimeError: NCCL error in: ../torch/csrc/distributed/c10d/ProcessGroupNCCL.cpp:1269, unhandled system error, "
    "NCCL version 2.14.3\n"
)
_START = "node1:5120:5188 [0] misc/socket.cc:483 NCCL WARN socketStartConnect: Connect to 10.20.0.11<{port}> failed : {err}\n"


def test_one_node_job_is_no_firewall_between_hosts(tmp_path: Path) -> None:
    """Every rank on the rendezvous host itself (torchrun --nnodes 1, NCCL's nNodes 1): no host firewall stands
    between a host and itself, and glearn50c named network.port-blocked."""
    for launch in (
        "torchrun --nnodes=1 --nproc-per-node=2 --master_addr 10.20.0.11 --master_port 29500 train.py\n",
        "#SBATCH --nodes=1\n+ export MASTER_ADDR=10.20.0.11 MASTER_PORT=29500\n",
    ):
        got = causes(tmp_path, launch + _START.format(port=41235, err="Connection timed out") + _TAIL)
        assert "network.port-blocked" not in got
    # two nodes: still the filter; and NCCL's nNodes 1 is one communicator's (a TP group inside a node), not the job's
    two = "torchrun --nnodes=2 --node_rank 1 --master_addr 10.20.0.11 --master_port 29500 train.py\n"
    assert causes(tmp_path, two + _START.format(port=41235, err="No route to host") + _TAIL)[0] == "network.port-blocked"
    tp_comm = "node2:5120:5188 [0] NCCL INFO comm 0x55d0 rank 0 nRanks 8 nNodes 1 localRanks 8 localRank 0 MNNVL 0\n"
    got = causes(tmp_path, "+ export MASTER_ADDR=10.20.0.11\n" + tp_comm + _START.format(port=41235, err="No route to host"))
    assert got[0] == "network.port-blocked"


@pytest.mark.parametrize(
    "rdzv",
    [
        # the port stated apart from the address
        "+ export MASTER_ADDR=10.20.0.11\n+ export MASTER_PORT=29500\n",
        "torchrun --nnodes 2 --master_addr 10.20.0.11 --master_port 29500 train.py\n",
        # two rendezvous forms naming the host, each with its own port
        "torchrun --nnodes 2 --rdzv-endpoint 10.20.0.11:29400 train.py\ninit_method='tcp://10.20.0.11:29500'\n",
    ],
)
def test_the_rendezvous_port_itself_is_not_another_port(tmp_path: Path, rdzv: str) -> None:
    """The failed connect is to the store's own port: the store never connected, so nothing shows that the route
    works and only other ports are filtered (glearn50c's own reading, missed when the port was stated apart)."""
    got = causes(tmp_path, rdzv + _START.format(port=29500, err="No route to host") + _TAIL)
    assert "network.port-blocked" not in got
    assert causes(tmp_path, rdzv + _START.format(port=41235, err="No route to host") + _TAIL)[0] == "network.port-blocked"


# -- audit --fix: comments after a block that ends in a list of mappings ----------------------------------------------
def _fixed(tmp_path: Path, name: str, text: str) -> str:
    from tpdoctor.deploy.audit import load
    from tpdoctor.deploy.fix import fix_loaded

    f = tmp_path / name
    f.write_text(text, encoding="utf-8")
    return fix_loaded(load(f), None).text


def test_comment_opening_the_next_service_stays_above_it_after_a_long_syntax_list(tmp_path: Path) -> None:
    """A service ending in compose's long `volumes:` syntax (a list of mappings): ruamel keeps the next service's
    comment on the last item's last entry, gwild50's tail holding looked only at the list's own slot, and the keys
    --fix adds came below `# the cache, shared`, which opens redis."""
    text = (
        "services:\n  vllm:\n    image: vllm/vllm-openai:latest\n"
        '    command: ["--tensor-parallel-size", "2"]\n    privileged: true\n'
        "    volumes:\n      - type: bind\n        source: /data\n        target: /data\n"
        "  # the cache, shared\n  redis:\n    image: redis\n"
    )
    lines = _fixed(tmp_path, "compose.yaml", text).splitlines()
    i = lines.index("  # the cache, shared")
    assert lines[i + 1] == "  redis:"
    assert lines.index("    shm_size: 16g") < i


def test_comment_opening_the_next_pod_key_stays_above_it_after_volume_mounts(tmp_path: Path) -> None:
    """The container ends in `volumeMounts:` (a list of mappings): the securityContext --fix adds came below
    `# Volumes for the pod`, and the pod's last comment above the added dshm volume."""
    text = (
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: vllm\nspec:\n  hostIPC: true\n  containers:\n"
        "    - name: vllm\n      image: vllm/vllm-openai:latest\n"
        '      args: ["--tensor-parallel-size", "2"]\n'
        "      resources:\n        limits:\n          nvidia.com/gpu: 2\n"
        "      volumeMounts:\n        - name: cache\n          mountPath: /root/.cache\n"
        "  # Volumes for the pod\n  volumes:\n    - name: cache\n      hostPath:\n        path: /data/cache\n"
        "  # the end of the pod spec\n"
    )
    lines = _fixed(tmp_path, "pod.yaml", text).splitlines()
    i = lines.index("  # Volumes for the pod")
    assert lines[i + 1] == "  volumes:"
    assert lines.index("      securityContext:") < i
    assert lines[-1] == "  # the end of the pod spec"


def test_a_block_commented_out_at_column_0_keeps_its_bytes(tmp_path: Path) -> None:
    """xinference's compose: the service's `volumes:`/`environment:` commented out at column 0, then a blank line.
    Moved in front of the next service, it was re-indented to the service's column and lost the blank line (a
    service ending in a scalar; one ending in a list of mappings, as xinference's, now takes the same path)."""
    block = "#    volumes:\n#      - <xinference_home>:/root/.xinference\n#    environment:\n#      - A=b\n\n"
    for end in ("    restart: always\n", "    deploy:\n      resources:\n        reservations:\n          devices:\n"
                "            - capabilities: [gpu]\n              driver: nvidia\n              count: all\n"):
        text = "services:\n  xinference:\n    image: vllm/vllm-openai:latest\n    privileged: true\n" + end
        fixed = _fixed(tmp_path, "compose.yaml", text + block + "  worker:\n    image: redis\n")
        assert "cap_drop" in fixed
        assert block + "  worker:\n" in fixed


# -- the redactor (gsafe50's `wandb login KEY`) -----------------------------------------------------------------------
@pytest.mark.parametrize(
    "line",
    [
        "To fix, run wandb login authentication-required-for-this-project",
        "hint: wandb login --relogin afterwards_with_your_own_account",
    ],
)
def test_a_word_after_wandb_login_is_no_key_without_a_digit(line: str) -> None:
    from tpdoctor.redact import redact_line

    assert redact_line(line) == line
    # keys still go
    assert redact_line("wandb login 0123456789abcdef0123456789abcdef01234567") == "wandb login <redacted>"
    assert redact_line("wandb login --relogin local-0123456789abcdef0123456789abcdef01234567").endswith("<redacted>")
    assert redact_line("wandb login abcdefabcdefabcdefabcdefabcdef0123456789") == "wandb login <redacted>"


def test_cuda_visible_devices_under_the_nvidia_runtime_with_its_own_selection(tmp_path: Path) -> None:
    """gwild50 made CUDA_VISIBLE_DEVICES a notice wherever every host GPU enters (host numbering kept), the nvidia
    runtime included; with the container's own NVIDIA_VISIBLE_DEVICES=2,3 only those two enter, as 0 and 1, and
    CUDA_VISIBLE_DEVICES=2,3 names neither ("invalid device ordinal")."""
    from tpdoctor.deploy.audit import audit_model, load

    base = (
        "services:\n  vllm:\n    image: vllm/vllm-openai:latest\n"
        '    command: ["--tensor-parallel-size", "2"]\n    shm_size: 16g\n    runtime: nvidia\n    environment:\n'
    )

    def severity(env: str) -> str:
        f = tmp_path / "compose.yaml"
        f.write_text(base + env + "      - CUDA_VISIBLE_DEVICES=2,3\n", encoding="utf-8")
        got = [x for x in audit_model(load(f).model).findings if x.cause == "cuda.visible-devices-mismatch"]
        return got[0].severity.value

    assert severity("      - NVIDIA_VISIBLE_DEVICES=2,3\n") == "degraded"
    assert severity("      - NVIDIA_VISIBLE_DEVICES=all\n") == "notice"


def test_a_rank_whose_own_bootstrap_address_is_the_peer_connected_to_its_own_host(tmp_path: Path) -> None:
    """No node count in the log, but NCCL bootstraps on 10.20.0.11 (the only address its ranks use) and the failed
    connect is to 10.20.0.11: the ranks share that host, and no firewall stands between them."""
    head = "+ export MASTER_ADDR=10.20.0.11\nnode1:5120:5188 [0] NCCL INFO Bootstrap : Using eth0:10.20.0.11<0>\n"
    got = causes(tmp_path, head + _START.format(port=41235, err="Connection timed out") + _TAIL)
    assert "network.port-blocked" not in got
    # a rank on another host (its own address differs) still reads the filter
    other = head.replace("eth0:10.20.0.11<0>", "eth0:10.20.0.12<0>")
    assert causes(tmp_path, other + _START.format(port=41235, err="No route to host") + _TAIL)[0] == "network.port-blocked"


def test_ubuntu_drivers_list_of_available_drivers_is_no_installed_driver(tmp_path: Path) -> None:
    """`ubuntu-drivers devices` lists the branches it could install, the oldest first; glearn50a's branch fact read
    the first as the host's driver, and a torch build for CUDA 12 beside it was cuda.driver-too-old."""
    listing = (
        "== /sys/devices/pci0000:00/0000:00:01.0/0000:01:00.0 ==\n"
        "vendor   : NVIDIA Corporation\nmodel    : GA102 [GeForce RTX 3090]\n"
        "driver   : nvidia-driver-470 - distro non-free\n"
        "driver   : nvidia-driver-535 - distro non-free recommended\n"
    )
    assert "cuda.driver-too-old" not in causes(tmp_path, listing + "CUDA used to build PyTorch: 12.1\n")
