"""gfeat38: a remedy's words follow the launcher the log used (model/fixes.py variants, explain/launcher.py).

vllm.tp-exceeds-visible-gpus is named for any launcher that starts more ranks than visible GPUs; its fix names
that launcher's own count (torchrun --nproc-per-node, accelerate --num_processes, deepspeed --num_gpus,
mpirun -np, SGLang --tp, TGI --num-shard, Ray num_gpus), and a vLLM log keeps vLLM's TP x PP text. The remedy's
id, privilege and runtimes stay the same: only its words change.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tpdoctor.explain import explain
from tpdoctor.explain.launcher import launcher_of
from tpdoctor.explain.scanner import LogFacts
from tpdoctor.model.finding import Fix
from tpdoctor.model.fixes import chosen_variant, fixes_for, remedies
from tpdoctor.render.json_format import render_json

CAUSE = "vllm.tp-exceeds-visible-gpus"
ORDINAL = "RuntimeError: CUDA error: invalid device ordinal"
LISTED = "".join(f"GPU {i}: NVIDIA L4 (UUID: GPU-0000000{i}-aaaa-bbbb-cccc-dddddddddddd)\n" for i in range(2))

# launcher -> (a log naming the cause with that launcher, words its remedy must carry)
FORMS = {
    "torchrun": ("docker run --gpus 2 img torchrun --nproc_per_node=4 train.py\n", "--nproc-per-node"),
    "torchrun-rendezvous": (
        LISTED + "[default] Rendezvous complete for workers. Result:\n  local_ranks=[0, 1, 2, 3]\n",
        "torchrun --nproc-per-node",
    ),
    "accelerate": (LISTED + "accelerate launch --num_processes 4 train.py\n", "--num_processes"),
    "deepspeed": (LISTED + "deepspeed --num_gpus 4 train.py\n", "deepspeed --num_gpus"),
    "mpirun": (LISTED + "mpirun -np 4 python train.py\n", "mpirun -np"),
    "vllm": ("docker run --gpus 2 img\nINFO args: tensor_parallel_size=4\n", "--tensor-parallel-size"),
    "sglang": ("docker run --gpus 2 img\npython3 -m sglang.launch_server --model-path m --tp 4\n", "--tp"),
    "tgi": (
        'docker run --gpus 2 img\nArgs { model_id: "m", sharded: None, num_shard: Some(4), quantize: None }\n',
        "--num-shard",
    ),
}
# each launcher's command in its remedy: exactly one of them in a remedy
COMMANDS = {
    "torchrun": "torchrun ",
    "accelerate": "accelerate launch",
    "deepspeed": "deepspeed ",
    "mpirun": "mpirun ",
    "vllm": "vllm serve",
    "sglang": "sglang.launch_server",
    "tgi": "text-generation-launcher",
    "ray": "@ray.remote",
}


def _finding(tmp_path: Path, text: str):  # type: ignore[no-untyped-def]
    log = tmp_path / "run.log"
    log.write_text(text)
    found = [f for f in explain([str(log)]).findings if f.cause == CAUSE]
    assert found, "the cause is named"
    return found[0]


def _env(fixes: list[Fix]) -> list[Fix]:
    return [f for f in fixes if f.runtime == "env"]


@pytest.mark.parametrize("form", sorted(FORMS))
def test_each_launcher_gets_its_own_remedy(tmp_path: Path, form: str) -> None:
    text, words = FORMS[form]
    f = _finding(tmp_path, text + ORDINAL + "\n")
    env = _env(f.fixes)
    assert env and all(words in x.snippet and words in x.title for x in env), env
    launcher = form.split("-")[0]
    assert [k for k, cmd in COMMANDS.items() if cmd in env[0].snippet] == [launcher], env[0].snippet
    # the remedy is the same one: its ids and runtimes as the catalog writes them, its summary the cause's
    assert [x.id for x in f.fixes] == [x.id for x in fixes_for(CAUSE)]
    assert [x.runtime for x in f.fixes] == [x.runtime for x in fixes_for(CAUSE)]


def test_vllm_log_keeps_tensor_parallel_text(tmp_path: Path) -> None:
    f = _finding(tmp_path, "docker run --gpus 2 img\nINFO args: tensor_parallel_size=4\n" + ORDINAL + "\n")
    env = _env(f.fixes)[0]
    assert "--tensor-parallel-size" in env.title and "--pipeline-parallel-size" in env.snippet
    assert "TP x PP" in env.title
    assert "torchrun" not in env.snippet and "nproc" not in env.snippet


def test_ray_scheduler_demand_names_num_gpus(tmp_path: Path) -> None:
    f = _finding(tmp_path, "Demands:\n {'GPU': 1.0} * 4 (PACK): 1+ pending placement groups\n")
    env = _env(f.fixes)[0]
    assert "num_gpus" in env.title and "@ray.remote(num_gpus=" in env.snippet


def test_vllm_on_ray_keeps_vllm_words(tmp_path: Path) -> None:
    text = "ValueError: The number of required GPUs exceeds the total number of available GPUs in the placement group.\n"
    assert "--tensor-parallel-size" in _env(_finding(tmp_path, text).fixes)[0].snippet


def test_launcher_order_outer_first() -> None:
    facts = LogFacts()
    facts.add("local_ranks", "0, 1, 2, 3", 3, "x")
    assert launcher_of(facts) == "torchrun"
    facts.add("step_launcher", "deepspeed", 1, "x")  # DeepSpeed started torch's agent
    assert launcher_of(facts) == "deepspeed"
    facts.add("accelerate_num_processes", "4", 2, "x")  # accelerate started both
    assert launcher_of(facts) == "accelerate"
    bare = LogFacts()
    assert launcher_of(bare) is None
    assert launcher_of(bare, {"ray.autoscaler-infeasible"}) == "ray"
    assert launcher_of(bare, {"ray.current-node-no-gpu"}) == "vllm"  # vLLM's own words under Ray


def test_no_launcher_keeps_the_written_remedy() -> None:
    written = remedies(CAUSE)[0]
    assert chosen_variant(written, {})["env"] == written["env"]
    assert chosen_variant(written, {"launcher": "unknown-launcher"})["title"] == written["title"]
    assert "variants" not in chosen_variant(written, {"launcher": "torchrun"})
    # a variant replaces words only, never the id or the privilege
    chosen = chosen_variant({"id": "a", "privilege": "none", "env": "x", "variants": {"by": "k", "v": {"id": "b", "privilege": "privileged", "env": "y"}}}, {"k": "v"})
    assert (chosen["id"], chosen["privilege"], chosen["env"]) == ("a", "none", "y")


def test_json_shape_is_unchanged_apart_from_the_words(tmp_path: Path) -> None:
    log = tmp_path / "run.log"
    log.write_text(FORMS["torchrun"][0] + ORDINAL + "\n")
    report = explain([str(log)])
    doc = json.loads(render_json(report))
    f = next(x for x in doc["findings"] if x["cause"] == CAUSE)
    assert set(f["fixes"][0]) == set(json.loads(json.dumps(fixes_for(CAUSE)[0].model_dump(mode="json"))))
    assert "launcher" not in doc.get("facts", {})  # the choice is no new fact in the output
