"""Where the parallel size comes from: every engine's spelling, shell and compose defaults,
compose `.env` interpolation, image env vars, and multi-node layouts (ranks per container =
TP x PP / nodes)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tpdoctor.deploy.analysis import node_count, pp_size, ranks_per_container, tp_size
from tpdoctor.deploy.audit import audit_model, load
from tpdoctor.deploy.interpolate import interpolate, parse_dotenv

EXCEEDS = "vllm.tp-exceeds-visible-gpus"
SPLIT = "topology.ranks-split-across-containers"


def _causes(p: Path) -> set[str]:
    return {f.cause for f in audit_model(load(p).model).findings}


@pytest.mark.parametrize(
    ("args", "tp", "pp"),
    [
        ("-tp 4", 4, None),
        ("-tp=4", 4, None),
        ("--tensor-parallel-size=4", 4, None),
        ("--tensor-parallel-size 2 -pp 2", 2, 2),
        ("--tensor-parallel-size 2 --pipeline-parallel-size=2", 2, 2),
        ("--tp 4", 4, None),
        ("--tp-size 4", 4, None),
        ("--num-shard 4", 4, None),
        ("--tensor-parallel-size ${TENSOR_PARALLEL_SIZE:-4}", 4, None),
        ('--tensor-parallel-size "$TP"', 4, None),
    ],
)
def test_shell_spellings(args: str, tp: int, pp: int | None, tmp_path: Path) -> None:
    p = tmp_path / "run.sh"
    p.write_text(f"TP=4\ndocker run --gpus 2 --shm-size 16g vllm/vllm-openai {args}\n")
    svc = load(p).model.services[0]
    assert (tp_size(svc), pp_size(svc)) == (tp, pp)
    assert EXCEEDS in _causes(p)


def test_env_the_image_reads(tmp_path: Path) -> None:
    p = tmp_path / "run.sh"
    p.write_text("docker run --gpus 2 -e NUM_SHARD=4 ghcr.io/huggingface/text-generation-inference\n")
    assert tp_size(load(p).model.services[0]) == 4 and EXCEEDS in _causes(p)
    p.write_text("docker run --gpus 2 -e NUM_SHARD=2 ghcr.io/huggingface/text-generation-inference\n")
    assert EXCEEDS not in _causes(p)


COMPOSE = """\
services:
  vllm:
    image: vllm/vllm-openai
    shm_size: 16g
    command: ["--model", "m", "--tensor-parallel-size", "${TP:-2}"]
    deploy:
      resources:
        reservations:
          devices: [{driver: nvidia, count: 2, capabilities: [gpu]}]
"""


def test_compose_default_and_dotenv(tmp_path: Path) -> None:
    p = tmp_path / "compose.yaml"
    p.write_text(COMPOSE)
    assert tp_size(load(p).model.services[0]) == 2 and EXCEEDS not in _causes(p)
    (tmp_path / ".env").write_text("# sizes\nexport TP=4  # four GPUs\n")
    assert tp_size(load(p).model.services[0]) == 4 and EXCEEDS in _causes(p)
    (tmp_path / ".env").write_text("TP=\n")  # empty: `:-` takes the default
    assert tp_size(load(p).model.services[0]) == 2


def test_compose_interpolation_rules() -> None:
    env = {"SET": "v", "EMPTY": ""}
    assert interpolate("${EMPTY:-d}|${EMPTY-d}|${UNSET-d}", env) == "d||d"
    assert interpolate("${SET:+alt}|${EMPTY:+alt}|${EMPTY+alt}", env) == "alt||alt"
    assert interpolate("$$SET ${UNSET:-${SET}} $SET", env) == "$SET v v"
    assert interpolate("${UNSET}", env) == "${UNSET}"  # unknown here: left as written
    assert parse_dotenv("A='$B'\nB=2\nC=\"x $B\"\nD=1# not a comment\n") == {
        "A": "$B",
        "B": "2",
        "C": "x 2",
        "D": "1# not a comment",
    }


def test_sglang_multi_node_ranks_per_container(tmp_path: Path) -> None:
    p = tmp_path / "compose.yaml"
    cmd = "python3 -m sglang.launch_server --model m --tp 4 --nnodes 2 --node-rank 0 --dist-init-addr 10.0.0.1:5000"
    p.write_text(COMPOSE.replace('["--model", "m", "--tensor-parallel-size", "${TP:-2}"]', cmd))
    svc = load(p).model.services[0]
    assert (tp_size(svc), node_count(svc), ranks_per_container(svc)) == (4, 2, 2)
    assert EXCEEDS not in _causes(p)
    p.write_text(
        COMPOSE.replace(
            '["--model", "m", "--tensor-parallel-size", "${TP:-2}"]', cmd.replace("--tp 4", "--tp 8")
        )
    )
    assert EXCEEDS in _causes(p)  # 8 / 2 nodes = 4 per container, 2 exposed: really breaks


RAY_K8S = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: vllm}
spec:
  replicas: 2
  selector: {matchLabels: {app: vllm}}
  template:
    metadata: {labels: {app: vllm}}
    spec:
      containers:
        - name: vllm
          image: vllm/vllm-openai
          command: ["bash", "-c", "ray start --address=$RAY_HEAD:6379 && vllm serve m --tensor-parallel-size 8 --distributed-executor-backend ray"]
          resources: {limits: {nvidia.com/gpu: 4}}
          volumeMounts: [{name: shm, mountPath: /dev/shm}]
      volumes: [{name: shm, emptyDir: {medium: Memory, sizeLimit: 16Gi}}]
"""


def test_ray_deployment_is_not_asked_for_one_pod(tmp_path: Path) -> None:
    p = tmp_path / "k.yaml"
    p.write_text(RAY_K8S)
    causes = _causes(p)
    assert SPLIT not in causes and EXCEEDS not in causes
    p.write_text(
        RAY_K8S.replace("ray start --address=$RAY_HEAD:6379 && ", "").replace(
            " --distributed-executor-backend ray", ""
        )
    )
    assert SPLIT in _causes(p)  # the same layout without a multi-node launcher does break


INTERP = """\
services:
  s:
    image: intel/vllm:0.17.0-xpu
    shm_size: ${SHM_SIZE:-16g}
    devices: ["${RENDER_NODE:-/dev/dri/renderD128}"]
    group_add: ["${RENDER_GID:-992}"]
    command: ["m", "-tp", "1"]
"""


def test_compose_interpolates_every_value_but_fix_keeps_the_variables(tmp_path: Path) -> None:
    from deploy_helpers import two_gpu_facts
    from tpdoctor.deploy.fix import fix_loaded

    p = tmp_path / "compose.yaml"
    p.write_text(INTERP)
    svc = load(p).model.services[0]
    assert svc.shm_size == 16 * 1024**3 and svc.group_add == ["992"]
    assert [d.host for d in svc.devices] == ["/dev/dri/renderD128"]
    assert "shm.too-small" not in _causes(p)  # the default is read, no false 64 MiB
    (tmp_path / ".env").write_text("SHM_SIZE=1g\n")
    assert load(p).model.services[0].shm_size == 1024**3
    (tmp_path / ".env").unlink()
    res = fix_loaded(load(p), two_gpu_facts(render_gid=993))
    assert "shm_size: ${SHM_SIZE:-16g}" in res.text  # the user's variable survives --fix
    assert 'group_add: ["993"]' in res.text  # matched through its interpolated value
