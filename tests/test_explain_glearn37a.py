"""Issue 13, heldout37 lessons (glearn37a).

Lines are written from the code that prints them (not copied from the heldout37 logs):
- Triton's Python backend (PyTriton runs it): python_be.cc SendMessageToStub "Stub process is not healthy." and
  "Failed to obtain the health mutex." (r21-r23), stub_launcher.cc "Stub process '<instance>' is not healthy." (r24+):
  the stub died or hung; /dev/shm only when the container keeps Docker's default /dev/shm, else a note;
- a bare "Bus error" (bash's job report without a core, or an issue's title): /dev/shm only beside a container;
- NCCL's ncclSystemError string reported under two CUDA builds with nothing about a container: a version
  combination, not /dev/shm (modelscope/ms-swift#6495); the bare line keeps its guess;
- `invalid device ordinal` read as a mask problem, with a launcher that starts several ranks on the node
  (torchrun --nproc-per-node, accelerate --num_processes): the text says more ranks were started than GPUs visible;
- hivemind's "failed to connect to bootstrap peers" is left alone (a closed port and dead peers print the same).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import causes as _causes
from explain_helpers import findings as _findings
from explain_helpers import notes as _notes

# --------------------------------------------------------------------------- Triton Python backend stub health

STUB_FORMS = [
    # stub_launcher.cc StubLauncher::ReceiveMessageFromStub (r24+): the instance name in quotes
    "E1203 08:11:42.118260 1 python_be.cc:1295] Stub process 'encoder_0_1' is not healthy.",
    # python_be.cc ModelInstanceState::SendMessageToStub (r21-r23): no name
    "tritonclient.utils.InferenceServerException: [StatusCode.INTERNAL] Stub process is not healthy.",
    # the same function's lock timeout
    "E1203 08:11:40.000001 1 python_be.cc:1088] Failed to obtain the health mutex.",
]


@pytest.mark.parametrize("line", STUB_FORMS)
def test_stub_not_healthy_alone_is_a_note(tmp_path: Path, line: str) -> None:
    assert _causes(tmp_path, line + "\n") == []
    assert any("lost its stub process" in n for n in _notes(tmp_path, line + "\n"))


@pytest.mark.parametrize("line", STUB_FORMS)
def test_stub_not_healthy_in_docker_alone_stays_a_note(tmp_path: Path, line: str) -> None:
    # a container, but nothing that shows its /dev/shm is the default: the stub may have died of anything
    text = "I run the PyTriton server in a docker container and after a while it exits:\n" + line + "\n"
    assert _causes(tmp_path, text) == []
    assert any("lost its stub process" in n for n in _notes(tmp_path, text))


@pytest.mark.parametrize("line", STUB_FORMS)
def test_stub_not_healthy_with_default_shm_docker_run_suggests_shm(tmp_path: Path, line: str) -> None:
    text = "$ docker run --gpus all -p 8000:8000 my-pytriton-server:latest python serve.py\n" + line + "\n"
    assert _findings(tmp_path, text)[:1] == [("shm.too-small", "suggests")]


def test_stub_not_healthy_with_host_ipc_stays_clean(tmp_path: Path) -> None:
    text = "$ docker run --gpus all --ipc=host my-pytriton-server:latest python serve.py\n" + STUB_FORMS[0] + "\n"
    assert "shm.too-small" not in _causes(tmp_path, text)
    assert any("lost its stub process" in n for n in _notes(tmp_path, text))


def test_other_health_words_stay_clean(tmp_path: Path) -> None:
    run = "$ docker run --gpus all my-server:latest\n"
    other = "ERROR: cluster is not healthy before the test\nWeb API container is not healthy, retrying\n"
    assert _causes(tmp_path, run + other) == []
    assert _causes(tmp_path, run + other + STUB_FORMS[1] + "\n") == ["shm.too-small"]


# --------------------------------------------------------------------------- bare Bus error


@pytest.mark.parametrize("line", ["Bus error", "Bus error when using encode_multi_process", "Bus error while training with 4 workers"])
def test_bare_bus_error_in_a_container_suggests_shm(tmp_path: Path, line: str) -> None:
    text = line + "\nI'm running this in a docker container python:3.9.2\n"
    assert _findings(tmp_path, text)[:1] == [("shm.too-small", "suggests")]


@pytest.mark.parametrize("line", ["Bus error", "Bus error when using encode_multi_process"])
def test_bare_bus_error_on_a_host_is_a_note(tmp_path: Path, line: str) -> None:
    text = line + "\n"
    assert _causes(tmp_path, text) == []
    assert any("bus error" in n for n in _notes(tmp_path, text))


def test_bus_error_words_in_prose_stay_clean(tmp_path: Path) -> None:
    text = "Bus error handling was improved in this release\nThe docker image is published\n"
    assert _causes(tmp_path, text) == []
    assert _causes(tmp_path, text + "Bus error\n") == ["shm.too-small"]


def test_bare_bus_error_with_oom_killer_is_not_shm(tmp_path: Path) -> None:
    text = "Bus error\nrunning in docker\n[123.4] Out of memory: Killed process 4242 (python)\n"
    assert "shm.too-small" not in _causes(tmp_path, text)
    assert any("died of SIGBUS, but the log shows host memory ran out" in n for n in _notes(tmp_path, text))


# --------------------------------------------------------------------------- ncclSystemError under two CUDA builds

SYSTEM_ERROR = "RuntimeError: NCCL Error 2: unhandled system error (run with NCCL_DEBUG=INFO for details)"


@pytest.mark.parametrize(
    "text",
    [
        # prose that compares builds (ms-swift#6495 shape, written anew)
        "With torch 2.8.0+cu128 training fails:\n" + SYSTEM_ERROR + "\nWith the cu126 wheel it fails the same way.\n",
        # an index URL and a local version label
        "pip install torch --index-url https://download.pytorch.org/whl/cu121\n"
        "torch 2.3.0+cu118\n" + SYSTEM_ERROR + "\n",
    ],
)
def test_system_error_across_two_builds_is_not_shm(tmp_path: Path, text: str) -> None:
    assert _causes(tmp_path, text) == []
    assert any("different CUDA builds" in n for n in _notes(tmp_path, text))
    # neighbours: the bare line, one build, two builds in docker keep the /dev/shm guess
    assert _causes(tmp_path, SYSTEM_ERROR + "\n") == ["shm.too-small"]
    assert _causes(tmp_path, "torch 2.8.0+cu128\n" + SYSTEM_ERROR + "\n") == ["shm.too-small"]
    assert "shm.too-small" in _causes(tmp_path, "docker run --gpus all img\n" + text)


# --------------------------------------------------------------------------- more ranks than visible GPUs

ORDINAL = (
    '  File "run_main.py", line 81, in <module>\n'
    "    torch.cuda.set_device(local_rank)\n"
    "RuntimeError: CUDA error: invalid device ordinal\n"
)


@pytest.mark.parametrize(
    "launch",
    [
        "accelerate launch --multi_gpu --mixed_precision bf16 --num_processes 8 run_main.py",
        "accelerate launch --num-processes=4 run_main.py",
    ],
)
def test_invalid_ordinal_with_launcher_ranks_says_more_ranks_than_gpus(tmp_path: Path, launch: str) -> None:
    text = launch + "\n" + ORDINAL
    assert _causes(tmp_path, text)[:1] == ["cuda.visible-devices-mismatch"]
    from tpdoctor.explain import explain

    log = tmp_path / "r.log"
    log.write_text(text, encoding="utf-8")
    top = explain([str(log)]).findings[0]
    assert "more ranks were started than GPUs are visible" in top.message
    log.write_text(ORDINAL, encoding="utf-8")  # neighbour: no launcher, no rank text
    assert all("more ranks were started" not in f.message for f in explain([str(log)]).findings)


def test_accelerate_processes_above_visible_gpus_name_the_count(tmp_path: Path) -> None:
    text = "accelerate launch --num_processes 4 run_main.py\nCUDA_VISIBLE_DEVICES=0\n" + ORDINAL
    assert _causes(tmp_path, text)[:1] == ["vllm.tp-exceeds-visible-gpus"]


def test_accelerate_processes_over_several_machines_are_not_this_nodes_ranks(tmp_path: Path) -> None:
    from tpdoctor.explain import explain

    text = "accelerate launch --num_machines 2 --num_processes 16 run_main.py\nCUDA_VISIBLE_DEVICES=0,1,2,3,4,5,6,7\n" + ORDINAL
    assert "vllm.tp-exceeds-visible-gpus" not in _causes(tmp_path, text)
    one = "accelerate launch --num_machines 1 --num_processes 16 run_main.py\nCUDA_VISIBLE_DEVICES=0,1,2,3,4,5,6,7\n" + ORDINAL
    assert _causes(tmp_path, one)[:1] == ["vllm.tp-exceeds-visible-gpus"]
    log = tmp_path / "m.log"
    log.write_text("accelerate launch --num_machines 2 --num_processes 16 run_main.py\n" + ORDINAL, encoding="utf-8")
    assert all("more ranks were started" not in f.message for f in explain([str(log)]).findings)
