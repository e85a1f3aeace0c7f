"""review39: bugs found reviewing the session's new code (gnew39, gsafe39, the lead's audit commits)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tpdoctor.deploy.audit import audit_model, load
from tpdoctor.redact import redact_text

POD = """apiVersion: v1
kind: Pod
metadata: {name: vllm}
spec:
  containers:
    - name: vllm
      image: vllm/vllm-openai:v0.8.5
      args: ["--tensor-parallel-size", "4"]
      env: [{name: NVIDIA_VISIBLE_DEVICES, value: "VALUE"}]
      resources:
        limits: {cpu: 8}
"""


def _tp(tmp_path: Path, text: str) -> list[tuple[str, str]]:
    p = tmp_path / "pod.yaml"
    p.write_text(text)
    return [
        (f.severity.value, f.confidence)
        for f in audit_model(load(p).model).findings
        if f.cause == "vllm.tp-exceeds-visible-gpus"
    ]


def test_a_pod_that_names_fewer_gpus_than_tp_in_nvidia_visible_devices_is_the_blocker(tmp_path: Path) -> None:
    # NVIDIA_VISIBLE_DEVICES=0 gives the container one GPU even where nvidia is the node's default runtime: TP 4
    # cannot start there (it was read like `all`: degraded, "works where nvidia is the default runtime")
    for value in ("0", "0,1", "GPU-5a3c1f2e-0000-0000-0000-000000000000"):
        assert _tp(tmp_path, POD.replace("VALUE", value)) == [("blocker", "suggests")], value
    for value in ("all", "0,1,2,3"):
        assert _tp(tmp_path, POD.replace("VALUE", value)) == [("degraded", "suggests")], value


ISVC = """apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata: {name: llama}
spec:
  predictor:
    model:
      modelFormat: {name: huggingface}
      args: ["--tensor-parallel-size=2"]
      resources:
        limits: {nvidia.com/gpu: "2"}
---
apiVersion: serving.kserve.io/v1alpha1
kind: ServingRuntime
metadata: {name: a-old-hf}
spec:
  DISABLED
  supportedModelFormats:
    - {name: huggingface, autoSelect: true}
  containers:
    - name: kserve-container
      image: kserve/huggingfaceserver:v0.13.0
---
apiVersion: serving.kserve.io/v1alpha1
kind: ServingRuntime
metadata: {name: hf}
spec:
  supportedModelFormats:
    - {name: huggingface, autoSelect: true}
  containers:
    - name: kserve-container
      image: kserve/huggingfaceserver:v0.15.0
      volumeMounts:
        - {name: devshm, mountPath: /dev/shm}
  volumes:
    - name: devshm
      emptyDir: {medium: Memory}
"""


def test_a_disabled_or_multi_model_runtime_is_not_auto_selected(tmp_path: Path) -> None:
    # kserve GetSupportingRuntimes skips spec.disabled and multi-model runtimes: the second runtime, with its
    # /dev/shm, is the one KServe picks (the disabled one was taken and its missing /dev/shm was the blocker)
    for flag in ("disabled: true", "multiModel: true"):
        p = tmp_path / "k.yaml"
        p.write_text(ISVC.replace("DISABLED", flag))
        assert [f for f in audit_model(load(p).model).findings if f.cause == "shm.too-small"] == [], flag
    p = tmp_path / "k.yaml"
    p.write_text(ISVC.replace("DISABLED", "disabled: false"))
    assert [f.severity.value for f in audit_model(load(p).model).findings if f.cause == "shm.too-small"] == [
        "blocker"
    ]


def test_a_flow_env_value_with_spaces_is_redacted_whole() -> None:
    # a plain flow scalar runs to the next ',' or '}': only its first word was redacted ('secret pass' printed)
    out = redact_text("      env: [{name: DB_PASSWORD, value: my secret pass}]\n")
    assert "secret" not in out and "pass}" not in out and "<redacted>" in out
    out = redact_text('      env: [{name: DB_PASSWORD, value: hunter2 x, other: 1}, {name: A, value: b c}]\n')
    assert "hunter2" not in out and " x," not in out and "value: b c" in out


def test_torch_2_1s_total_capacty_typo_is_read_as_a_mostly_free_gpu(tmp_path: Path) -> None:
    # torch 2.1's allocator printed "has a total capacty of" (c10/cuda/CUDACachingAllocator.cpp, fixed in 2.2): the
    # same small request on a mostly free GPU under `ulimit -v` is the limit there too
    from tpdoctor.explain import explain

    p = tmp_path / "log.txt"
    p.write_text(
        "$ ulimit -v 184677216\n"
        "torch.cuda.OutOfMemoryError: CUDA out of memory. Tried to allocate 20.00 MiB. GPU 0 has a total capacty of "
        "79.15 GiB of which 78.02 GiB is free. Including non-PyTorch memory, this process has 1.13 GiB memory in use.\n"
    )
    assert "limits.address-space-too-low" in [f.cause for f in explain([str(p)]).findings]


RT_VOLUME_ONLY = """apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata: {name: llama}
spec:
  predictor:
    model:
      modelFormat: {name: huggingface}
      runtime: hf
      args: ["--tensor-parallel-size=2"]
      resources:
        limits: {nvidia.com/gpu: "2"}
      volumeMounts:
        - {name: devshm, mountPath: /dev/shm}
---
apiVersion: serving.kserve.io/v1alpha1
kind: ServingRuntime
metadata: {name: hf}
spec:
  supportedModelFormats:
    - {name: huggingface, autoSelect: true}
  containers:
    - name: kserve-container
      image: kserve/huggingfaceserver:v0.15.0
  volumes:
    - name: devshm
      emptyDir: {medium: Memory}
"""


def test_a_predictor_mount_of_a_runtime_volume_is_resolved_through_the_runtime(tmp_path: Path) -> None:
    # KServe's MergePodSpec gives the pod the runtime's volumes: the model container's /dev/shm mount names the
    # runtime's Memory emptyDir (it was read as an unknown volume, and /dev/shm as the 64 MiB default: the blocker)
    p = tmp_path / "k.yaml"
    p.write_text(RT_VOLUME_ONLY)
    assert [f for f in audit_model(load(p).model).findings if f.cause == "shm.too-small"] == []
    # the runtime's own mount of a volume the predictor declares resolves the same way
    text = RT_VOLUME_ONLY.replace(
        "      volumeMounts:\n        - {name: devshm, mountPath: /dev/shm}\n", ""
    ).replace(
        "  volumes:\n    - name: devshm\n      emptyDir: {medium: Memory}\n",
        "      volumeMounts:\n        - {name: devshm, mountPath: /dev/shm}\n",
    ).replace("  predictor:\n", "  predictor:\n    volumes:\n      - name: devshm\n        emptyDir: {medium: Memory}\n")
    p.write_text(text)
    assert [f for f in audit_model(load(p).model).findings if f.cause == "shm.too-small"] == []


def test_runtimes_are_indexed_once_per_file() -> None:
    import time

    from tpdoctor.deploy.kubernetes import runtime_index, serving_runtime, workloads

    n = 3000
    docs: list[object] = [
        {
            "kind": "InferenceService",
            "metadata": {"name": f"m{i}"},
            "spec": {"predictor": {"model": {"modelFormat": {"name": "huggingface"}, "runtime": f"rt{n - 1 - i}"}}},
        }
        for i in range(n)
    ]
    docs += [{"kind": "ServingRuntime", "metadata": {"name": f"rt{i}"}, "spec": {"volumes": []}} for i in range(n)]
    services = [w for w in workloads(docs) if w.kind == "InferenceService"]
    start = time.monotonic()
    runtimes = runtime_index(docs)  # once per file, as parse_kubernetes builds it
    got = [serving_runtime(w, runtimes)[1] for w in services]
    assert time.monotonic() - start < 3.0  # a walk of the 6000 documents per InferenceService took ~8 s
    assert got[0] == f"ServingRuntime rt{n - 1}" and got[-1] == "ServingRuntime rt0"


def test_stale_temps_are_cleaned_in_the_pinned_directory_not_through_a_swapped_link(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # write_fixed pins the directory with one descriptor; the stale-temp cleanup still listed and unlinked by the
    # path, so a directory link swapped after the pin made it delete temp-named files in the link owner's directory
    from tpdoctor import safewrite

    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    (a / "c.yaml").write_text("x: 1\n")
    victim = b / f".c.yaml{safewrite.TMP_MARK}{os.getpid()}-0123abcd"
    victim.write_text("not ours\n")
    ours = a / f".c.yaml{safewrite.TMP_MARK}{os.getpid()}-4567cdef"
    ours.write_text("stale\n")
    d = tmp_path / "d"
    d.symlink_to(a)
    state = safewrite.read_state(d / "c.yaml", 1 << 20)
    real = safewrite._write_fixed_in

    def swap_first(dfd: int, *args: object) -> Path:
        d.unlink()
        d.symlink_to(b)  # after the directory was pinned
        return real(dfd, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(safewrite, "_write_fixed_in", swap_first)
    safewrite.write_fixed(state, "x: 2\n", safewrite.detect_style(state.data))
    assert victim.exists() and not ours.exists()
    assert (a / "c.yaml").read_text() == "x: 2\n"


def test_the_datasets_cache_under_xdg_cache_home_is_named_so() -> None:
    # datasets/config.py: XDG_CACHE_HOME (default ~/.cache) + /huggingface; the finding named ~/.cache for it
    from tpdoctor.rules.jit_cache import hf_datasets_cache_dir

    what, directory = hf_datasets_cache_dir({"HOME": "/home/a", "XDG_CACHE_HOME": "/scratch/cache"}) or ("", "")
    assert directory == "/scratch/cache/huggingface/datasets" and "XDG_CACHE_HOME" in what and "~" not in what
    what, directory = hf_datasets_cache_dir({"HOME": "/home/a"}) or ("", "")
    assert directory == "/home/a/.cache/huggingface/datasets" and "~/.cache" in what


def test_a_secret_env_value_on_the_lines_after_value_is_redacted() -> None:
    # a block scalar (value: | / >-), a plain scalar on the next line, a double-quoted one continued: the secret
    # lines after `value:` were printed (only the `value:` line itself was redacted)
    from tpdoctor.redact import LineRedactor

    texts = [
        "      - name: DB_PASSWORD\n        value: |\n          hunter2zz\n\n          more2zz\n      - name: X\n",
        "      - name: DB_PASSWORD\n        value: >-\n          hunter2zz\n      - name: X\n",
        "      - name: DB_PASSWORD\n        value:\n          hunter2zz\n",
        '      - name: DB_PASSWORD\n        value: "hunter1 \\\n          hunter2zz"\n      - name: X\n',
        # an audit --fix diff's lines
        "+      - name: DB_PASSWORD\n+        value: |\n+          hunter2zz\n+      - name: X\n",
    ]
    for text in texts:
        for out in (redact_text(text), LineRedactor().feed(text)):
            assert "hunter" not in out and "more2zz" not in out, out
            assert "name: X" in out or "name: X" not in text
    kept = "      - name: DB_PASSWORD\n        value: abc\n      - name: X\n        value: |\n          visible\n"
    assert "visible" in redact_text(kept)


def test_a_multi_node_runtime_is_auto_selected_only_for_a_multi_node_predictor(tmp_path: Path) -> None:
    # kserve GetSupportingRuntimes: IsMultiNodeRuntime() (a workerSpec) == the predictor's workerSpec != nil
    text = ISVC.replace("DISABLED", "workerSpec: {tensorParallelSize: 2}")
    p = tmp_path / "k.yaml"
    p.write_text(text)
    assert [f for f in audit_model(load(p).model).findings if f.cause == "shm.too-small"] == []
    from tpdoctor.deploy.kubernetes import runtime_index, serving_runtime, workloads

    docs: list[object] = [
        {"kind": "InferenceService", "metadata": {"name": "a"},
         "spec": {"predictor": {"workerSpec": {}, "model": {"modelFormat": {"name": "hf"}}}}},
        {"kind": "ServingRuntime", "metadata": {"name": "mn"},
         "spec": {"workerSpec": {}, "supportedModelFormats": [{"name": "hf", "autoSelect": True}]}},
    ]  # fmt: skip
    got = [serving_runtime(w, runtime_index(docs))[1] for w in workloads(docs) if w.kind == "InferenceService"]
    assert got[0] == "ServingRuntime mn"


TWO_RUNTIMES = """apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata: {name: llama}
spec:
  predictor:
    model:
      modelFormat: {name: huggingface MODELVERSION}
      args: ["--tensor-parallel-size=2"]
      resources:
        limits: {nvidia.com/gpu: "2"}
---
apiVersion: serving.kserve.io/v1alpha1
kind: FIRSTKIND
metadata: {name: a-plain}
spec:
  supportedModelFormats:
    - {name: huggingface, autoSelect: true FIRSTFORMAT}
  containers:
    - name: kserve-container
      image: kserve/huggingfaceserver:v0.13.0
---
apiVersion: serving.kserve.io/v1alpha1
kind: ServingRuntime
metadata: {name: b-shm}
spec:
  supportedModelFormats:
    - {name: huggingface, autoSelect: true SECONDFORMAT}
  containers:
    - name: kserve-container
      image: kserve/huggingfaceserver:v0.15.0
      volumeMounts:
        - {name: devshm, mountPath: /dev/shm}
  volumes:
    - name: devshm
      emptyDir: {medium: Memory}
"""


def _two(tmp_path: Path, first_kind: str = "ServingRuntime", first: str = "", second: str = "", model: str = "") -> list[str]:
    text = TWO_RUNTIMES.replace("FIRSTKIND", first_kind).replace(" FIRSTFORMAT", first)
    text = text.replace(" SECONDFORMAT", second).replace(" MODELVERSION", model)
    p = tmp_path / "k.yaml"
    p.write_text(text)
    return [f.severity.value for f in audit_model(load(p).model).findings if f.cause == "shm.too-small"]


def test_auto_selection_follows_kserves_order_not_the_files(tmp_path: Path) -> None:
    # kserve GetSupportingRuntimes: namespaced ServingRuntimes before ClusterServingRuntimes, each by name, then a
    # stable sort by the format's priority (set before unset, higher first); the model's version must be listed
    assert _two(tmp_path) == ["blocker"]  # same scope, no priority: a-plain by name
    assert _two(tmp_path, first_kind="ClusterServingRuntime") == []  # the namespaced b-shm first
    assert _two(tmp_path, first=", priority: 1", second=", priority: 2") == []
    assert _two(tmp_path, second=", priority: 1") == []
    assert _two(tmp_path, first=", priority: 2", second=", priority: 1") == ["blocker"]
    assert _two(tmp_path, second=', version: "2"', model=', version: "2"') == []  # a-plain lists no version 2


def test_the_blocker_names_the_pods_own_short_gpu_list(tmp_path: Path) -> None:
    p = tmp_path / "pod.yaml"
    p.write_text(POD.replace("VALUE", "0"))
    (f,) = [f for f in audit_model(load(p).model).findings if f.cause == "vllm.tp-exceeds-visible-gpus"]
    assert "NVIDIA_VISIBLE_DEVICES=0: 1 GPU(s)" in f.message and "=all" not in f.message
