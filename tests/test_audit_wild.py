"""`audit` and `audit --fix` on real deployment files from public repositories (gwild50, a second round: gwild52, a
third: gwild54).

tests/data/deploy-wild/ holds the exact upstream bytes of 142 files (compose, `docker run`/`podman run` in READMEs,
MDX and reStructuredText pages and scripts, Kubernetes manifests and CRDs, devcontainer.json) and index.yaml: each file's source (repository, commit,
path), license, and the reading written before audit ever ran on it (`expect:` the causes above notice a careful
reviewer names, `clean: true` for none). Where the tool and that reading still disagree, the entry says which is right
and why (`extra_ok`/`missing_ok`: the tool is right; `extra_left`/`missing_left`: the tool is wrong and it is left,
docs/audit.md "Real files from public repositories"); `refused:` names the shell error of a file whose command the
shell itself refuses (exit 2). The reading itself is never edited to match the tool.
"""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from tpdoctor.cli import main
from tpdoctor.deploy.audit import audit_model, load
from tpdoctor.deploy.fix import fix_loaded

WILD = Path(__file__).parent / "data" / "deploy-wild"
COMPOSE_SCHEMA = Path(__file__).parent / "data" / "compose-spec.json"
INDEX: list[dict[str, Any]] = YAML(typ="safe").load((WILD / "index.yaml").read_text())["files"]
ENTRY = {e["path"]: e for e in INDEX}
ABOVE_NOTICE = ("blocker", "degraded")
# keys a --fix removes on purpose (privileged, host namespaces, SYS_ADMIN, seccomp/apparmor unconfined)
# gwild54 added copyleft and documentation licenses: the files are kept verbatim, which each of them allows
LICENSES = ("Apache-2.0", "MIT", "BSD-3-Clause", "AGPL-3.0", "GPL-3.0-only", "MulanPSL-2.0", "CC-BY-ND-4.0")
REMOVABLE = {"privileged", "ipc", "hostIPC", "pid", "hostPID", "security_opt", "cap_add", "add", "seccompProfile"}


def _invoke(*args: str) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    saved = sys.argv, sys.stdout, sys.stderr
    sys.argv = ["tpdoctor", *args]
    sys.stdout, sys.stderr = out, err
    code: Any = 0
    try:
        main()
    except SystemExit as exc:
        code = exc.code
    finally:
        sys.argv, sys.stdout, sys.stderr = saved
    return (code if isinstance(code, int) else (0 if code is None else 2)), out.getvalue() + err.getvalue()


def _findings(name: str) -> list[Any]:
    return audit_model(load(WILD / name).model).findings


def _above(name: str) -> set[str]:
    return {f.cause for f in _findings(name) if f.severity in ABOVE_NOTICE}


def _expected_now(e: dict[str, Any]) -> set[str]:
    want = set(e.get("expect") or [])
    want |= set(e.get("extra_ok") or []) | set(e.get("extra_left") or [])
    want -= set(e.get("missing_ok") or []) | set(e.get("missing_left") or [])
    return want


def _key_paths(node: Any, prefix: tuple[Any, ...] = ()) -> set[tuple[Any, ...]]:
    out: set[tuple[Any, ...]] = set()
    if isinstance(node, dict):
        for k, v in node.items():
            out.add((*prefix, k))
            out |= _key_paths(v, (*prefix, k))
    elif isinstance(node, list):
        for v in node:  # list items by position would shift when an item is removed: not part of the path
            out |= _key_paths(v, (*prefix, "[]"))
    return out


def _load_all(text: str, name: str) -> list[Any]:
    if name.endswith(".json"):
        from tpdoctor.deploy.devcontainer import JNode, parse_jsonc

        def plain(n: JNode) -> Any:
            if n.kind == "object":
                return {m.key: plain(m.val) for m in n.elems if m.val is not None}
            if n.kind == "array":
                return [plain(x) for x in n.elems]
            return n.value

        return [plain(parse_jsonc(text, name)[0])]
    return [d for d in YAML(typ="safe").load_all(text) if d is not None]


def test_index_lists_every_file_with_its_source_and_license() -> None:
    files = {p.name for p in WILD.iterdir() if p.name != "index.yaml"}
    assert files == set(ENTRY), files ^ set(ENTRY)
    for e in INDEX:
        assert e["source"].startswith("https://github.com/") and "/blob/" in e["source"], e["path"]
        commit = e["source"].split("/blob/")[1].split("/")[0]
        assert len(commit) == 40, e["path"]
        assert e["license"] in LICENSES, e["path"]
        assert bool(e.get("expect")) != bool(e.get("clean")), e["path"]
        assert not e.get("refused") or e.get("note"), f"{e['path']}: refused without a note"
        assert "__" in e["path"], e["path"]
        for key in ("extra_ok", "extra_left", "missing_ok", "missing_left"):
            if key in e:
                assert e.get("note"), f"{e['path']}: {key} without a note"


@pytest.mark.parametrize("name", sorted(ENTRY))
def test_wild_file_audits_as_read(name: str) -> None:
    """No traceback, no exit 1, no valid file refused; the findings above notice are the reading's (with the
    decided disagreements); a file whose command the shell itself refuses (`refused:`) exits 2 saying where."""
    path = str(WILD / name)
    code, text = _invoke("audit", "--format", "json", path)
    if ENTRY[name].get("refused"):
        # the shell itself refuses the file's command (gwild54: an unterminated quote): exit 2 says where
        assert code == 2 and ENTRY[name]["refused"] in text and "Traceback" not in text, text[-2000:]
        return
    assert code in (0, 3, 4), f"{name}: exit {code}\n{text[-2000:]}"
    assert "Traceback" not in text and "internal error" not in text, text[-2000:]
    report = json.loads(text[: text.rindex("}") + 1])
    got = {f["cause"] for f in report["findings"] if f["severity"] in ABOVE_NOTICE}
    assert got == _expected_now(ENTRY[name]), f"{name}: {sorted(got)} != {sorted(_expected_now(ENTRY[name]))}"
    code, text = _invoke("audit", path)
    assert code in (0, 3, 4) and "Traceback" not in text, text[-2000:]


@pytest.mark.parametrize("name", sorted(ENTRY))
def test_wild_fix_reparses_and_keeps_the_users_keys(name: str, tmp_path: Path) -> None:
    if ENTRY[name].get("refused"):
        return
    loaded = load(WILD / name)
    fixed = fix_loaded(loaded, None).text
    # the fixed text is read by the same parser (a shell/README: as many container commands)
    target = tmp_path / name
    target.write_text(fixed)
    again = load(target)
    assert len(again.model.services) == len(loaded.model.services), name
    if name.endswith((".sh", ".md", ".mdx", ".rst")):
        return
    before, after = _load_all(loaded.text, name), _load_all(fixed, name)
    assert len(before) == len(after), name
    for b, a in zip(before, after, strict=True):
        lost = {p for p in _key_paths(b) - _key_paths(a) if p[-1] not in REMOVABLE}
        assert not lost, f"{name}: --fix dropped {sorted(map(str, lost))}"
    if ENTRY[name]["kind"] == "compose":
        import jsonschema

        schema = json.loads(COMPOSE_SCHEMA.read_text())
        errors = [e.message for e in jsonschema.Draft7Validator(schema).iter_errors(after[0])]
        assert not errors, f"{name}: {errors}"
    # idempotent: a second --fix changes nothing
    assert fix_loaded(again, None).text == fixed, name


# --- the bugs the first run found, one test each -----------------------------------------------------------------


def test_kuberay_ray_containers_get_the_operators_dev_shm() -> None:
    """KubeRay mounts a Memory emptyDir at /dev/shm in each Ray container (kuberay pod.go addEmptyDir): its samples
    mount none. They were told shm.too-small, a blocker for the 8-GPU TP workers of the DeepSeek RayService."""
    for name in ("kuberay__ray-service-deepseek.yaml", "kuberay__ray-cluster-verl.yaml"):
        shm = [f for f in _findings(name) if f.cause == "shm.too-small"]
        assert not shm, [f.message for f in shm]
    svc = next(s for s in load(WILD / "kuberay__ray-service-deepseek.yaml").model.services if "gpu-group" in s.name)
    assert svc.shm_size == 500 * 1024**3 and "KubeRay" in (svc.shm_size_raw or "")


def test_kuberay_plasma_directory_keeps_the_default_shm(tmp_path: Path) -> None:
    text = (WILD / "kuberay__ray-service-deepseek.yaml").read_text()
    text = text.replace("      rayStartParams: {}", '      rayStartParams: {plasma-directory: "/tmp"}', 1)
    path = tmp_path / "ray.yaml"
    path.write_text(text)
    got = {f.cause for f in audit_model(load(path).model).findings if f.severity in ABOVE_NOTICE}
    assert "shm.too-small" in got


def test_command_substitution_in_option_position_keeps_the_flags_after_it() -> None:
    """llm-scaler's run_gpu_container.sh: `$(for dev in /dev/mei*; ...)` then --group-add video,
    --cap-add=SYS_ADMIN and a by-path --mount. Every flag after it was taken for the image: SYS_ADMIN unseen, a false
    by-path blocker, and --fix added --cap-drop ALL and a second --group-add before it."""
    name = "llm-scaler__run-gpu-container.sh"
    got = _above(name)
    assert "audit.cap-sys-admin" in got and "oneccl.bypath-missing" not in got
    fixed = fix_loaded(load(WILD / name), None).text
    assert "--cap-add=SYS_ADMIN" not in fixed and "--group-add video" not in fixed
    assert "  $(for dev in /dev/mei*; do echo --device $dev; done) \\\n" in fixed
    assert fixed.index("--cap-drop ALL") > fixed.index("source=/dev/char")  # new flags go just before the image


def test_privileged_single_gpu_intel_service_is_no_bypath_blocker() -> None:
    """llm-scaler's load-balancer compose: one privileged vLLM per GPU (-tp=1): no oneCCL exchange, nothing breaks
    once privileged goes. It was a 'proves' blocker per service."""
    f = [x for x in _findings("llm-scaler__lb-compose.yml") if x.cause == "oneccl.bypath-missing"]
    assert f and all(x.severity == "notice" for x in f)


@pytest.mark.parametrize(
    ("name", "line"),
    [
        ("triton__quickstart.md", 109),  # no --gpus: "a GPU is not available", says the README
        ("triton__quickstart.md", 146),  # the SDK client
        ("tgi__quicktour.md", 99),  # `docker run IMAGE --help`
        ("k8s-device-plugin__nvidia-device-plugin.yml", None),  # the device plugin DaemonSet
        ("colmap__run-gui.sh", 60),  # `docker run --runtime=nvidia IMAGE nvidia-smi`
        ("llama-factory__docker-cuda-readme.md", 52),  # `docker run --gpus all nvidia/cuda nvidia-smi`
    ],
)
def test_no_shm_degraded_without_a_gpu_or_for_a_probe(name: str, line: int | None) -> None:
    shm = [
        f
        for f in _findings(name)
        if f.cause == "shm.too-small" and (line is None or any(e.line == line for e in f.evidence))
    ]
    assert shm and all(f.severity == "notice" for f in shm), [(f.severity, f.message) for f in shm]
    if name in ("tgi__quicktour.md", "colmap__run-gui.sh", "llama-factory__docker-cuda-readme.md"):
        assert not any(f.edits for f in shm)  # a probe or --help: --fix adds no --shm-size either


def test_readme_fence_inside_a_list_item() -> None:
    """ramalama's wsl2-podman-cuda.md: a ```bash fence left open in list item 1 and a later ```bash taken for its
    closing fence shifted every block; the podman run was never read (exit 2, 'no podman run command found')."""
    loaded = load(WILD / "ramalama__wsl2-podman-cuda.md")
    assert [s.gpus[0].raw for s in loaded.model.services] == ["nvidia.com/gpu=all"]


def test_host_ipc_shared_with_another_containers_pid_namespace_is_kept() -> None:
    """production-stack's disaggregated prefill: `--ipc host --pid=container:master` shares CUDA IPC with another
    container; --fix removed --ipc host and the finding was degraded."""
    name = "production-stack__start-decode.sh"
    f = next(x for x in _findings(name) if x.cause == "audit.ipc-host-unneeded")
    assert f.severity == "notice" and not f.edits
    assert "--ipc host" in fix_loaded(load(WILD / name), None).text


def test_cuda_visible_devices_picking_from_all_gpus_is_a_notice() -> None:
    f = next(x for x in _findings("production-stack__start-decode.sh") if x.cause == "cuda.visible-devices-mismatch")
    assert f.severity == "notice"


@pytest.mark.parametrize(
    "name", ["kuberay__ray-service-stable-diffusion.yaml", "kuberay__ray-job-pytorch-distributed.yaml"]
)
def test_block_scalar_does_not_decide_the_list_indentation(name: str) -> None:
    """`serveConfigV2: |` / `runtimeEnvYAML: |` hold YAML text whose `- name:` was read as the file's own list
    layout: --fix re-indented every list of the file (26 and 38 lines removed). Only added lines now."""
    loaded = load(WILD / name)
    fixed = fix_loaded(loaded, None).text
    old, new = loaded.text.splitlines(), fixed.splitlines()
    import difflib

    removed = [ln for ln in difflib.ndiff(old, new) if ln.startswith("- ")]
    assert not removed, removed[:5]


def test_comment_before_the_next_pod_key_stays_above_it() -> None:
    """KubeRay's stable-diffusion sample: `# Please add the following taints to the GPU node.` opens `tolerations:`
    after the worker container; the securityContext --fix adds at the end of that container came below it."""
    fixed = fix_loaded(load(WILD / "kuberay__ray-service-stable-diffusion.yaml"), None).text
    lines = fixed.splitlines()
    i = lines.index("          # Please add the following taints to the GPU node.")
    assert lines[i + 1] == "          tolerations:"
    assert fixed.index("securityContext:") < fixed.index("# Please add the following taints")


def test_trailing_blanks_survive_next_to_a_removed_line() -> None:
    """The ROCm pod: `hostIPC: true  ` (trailing blanks) is removed by --fix; ruamel re-spells the file's other line
    with trailing blanks, `allowPrivilegeEscalation: false      `, and that line lost its blanks (the mapping back to
    the file's spelling gave up on the removed line)."""
    loaded = load(WILD / "rocm-k8s-device-plugin__pod-pytorch-non-privileged.yaml")
    fixed = fix_loaded(loaded, None).text
    assert "  hostIPC: true" not in fixed
    assert "      allowPrivilegeEscalation: false      \n" in fixed


def test_one_gpu_container_keeps_the_shm_size_it_chose() -> None:
    """Frigate's `docker run --device /dev/dri/renderD128 --shm-size=64m` (sized for its cameras): one GPU, so the
    64 MiB is a notice, and --fix rewrote it to 16g."""
    fixed = fix_loaded(load(WILD / "frigate__installation.md"), None).text
    assert "  --shm-size=64m \\\n" in fixed and "--shm-size=16g" not in fixed



# --- the second round (gwild52): the bugs its first run found, one test each ---------------------------------------


@pytest.mark.parametrize(
    ("name", "images"),
    [
        # an .mdx page was read as one shell script: 'no docker run command found'
        ("ollama__docker.mdx", ["ollama/ollama", "ollama/ollama", "ollama/ollama:rocm", "ollama/ollama"]),
        # a .rst page likewise: 'line 508: unterminated single quote' from its prose
        ("cupy__install.rst", ["cupy/cupy", "cupy/cupy", "cupy/cupy-rocm"]),
        # `docker run ...` as inline code in a numbered list item, no fenced block: 'no docker/podman run command found'
        # (upstream writes a no-break space before /bin/bash: one word for the shell, so part of the image reference)
        ("ai-containers__vllm-xpu.md", ["intel/vllm:0.14.1-xpu\xa0/bin/bash"]),
        # "It looks like you're testing me!" in an untagged output fence: 'line 336: unterminated single quote'
        ("ovms__continuous-batching.md", ["openvino/model_server:weekly"]),
    ],
)
def test_documents_are_read_by_their_code(name: str, images: list[str]) -> None:
    loaded = load(WILD / name)
    assert [s.image for s in loaded.model.services] == images


def test_inline_docker_run_is_fixed_in_place() -> None:
    """The inline span's flags are read (privileged, --ipc=host) and rewritten inside the span; the sentence stays."""
    name = "ai-containers__vllm-xpu.md"
    assert _above(name) == {"security.privileged", "audit.ipc-host-unneeded"}
    fixed = fix_loaded(load(WILD / name), None).text.splitlines()
    line = next(ln for ln in fixed if ln.startswith("2. Instantiate a docker container with command `docker run"))
    assert "--privileged" not in line and "--ipc=host" not in line and line.endswith("intel/vllm:0.14.1-xpu\xa0/bin/bash`")


@pytest.mark.parametrize(
    ("name", "services"),
    [
        # Volcano's batch.volcano.sh Job (tasks[].template): taken for batch/v1 Job, no template, exit 2
        ("volcano__mindspore-gpu.yaml", ["Job/mindspore-gpu:mpimaster/mpimaster", "Job/mindspore-gpu:mpiworker/mpiworker"]),
        # Kubeflow Trainer's ClusterTrainingRuntime: a JobSet template under spec.template
        (
            "kubeflow-trainer__torchtune-llama3-2-1b.yaml",
            [
                "ClusterTrainingRuntime/torchtune-llama3.2-1b:dataset-initializer/dataset-initializer",
                "ClusterTrainingRuntime/torchtune-llama3.2-1b:model-initializer/model-initializer",
                "ClusterTrainingRuntime/torchtune-llama3.2-1b:node/node",
            ],
        ),
        # Kubeflow's MPIJob (mpiReplicaSpecs.<role>.template)
        ("k8s-dra-driver-gpu__nvbandwidth-test-job-1.yaml", ["MPIJob/nvbandwidth-test-1:Launcher/mpi-launcher", "MPIJob/nvbandwidth-test-1:Worker/mpi-worker"]),
        # Dynamo's DynamoGraphDeployment (components[].podTemplate)
        ("dynamo__sglang-agg-xpu-dra.yaml", ["DynamoGraphDeployment/sglang-agg-xpu-dra:Frontend/main", "DynamoGraphDeployment/sglang-agg-xpu-dra:decode/main"]),
    ],
)
def test_pod_templates_of_other_workload_crds_are_read(name: str, services: list[str]) -> None:
    assert [s.name for s in load(WILD / name).model.services] == services


def test_other_crd_template_is_fixed_in_place() -> None:
    """The trainer node of the ClusterTrainingRuntime: 2 GPUs, torchtune's distributed recipe, 64 MiB: the blocker, and
    --fix mounts a Memory emptyDir at /dev/shm in that template."""
    name = "kubeflow-trainer__torchtune-llama3-2-1b.yaml"
    shm = [f for f in _findings(name) if f.cause == "shm.too-small" and f.severity == "blocker"]
    assert [f.message.split()[0] for f in shm] == ["ClusterTrainingRuntime/torchtune-llama3.2-1b:node/node"]
    fixed = fix_loaded(load(WILD / name), None).text
    doc = YAML(typ="safe").load(fixed)
    node = doc["spec"]["template"]["spec"]["replicatedJobs"][2]["template"]["spec"]["template"]["spec"]
    assert {"name": "dshm", "mountPath": "/dev/shm"} in node["containers"][0]["volumeMounts"]
    assert node["volumes"] == [{"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": "16Gi"}}]


@pytest.mark.parametrize(
    "name",
    [
        "vllm__deployment-docker.md",  # vllm/vllm-openai under --gpus all, no TP size: tensor_parallel_size 1
        "ollama__docker.mdx",  # Ollama: one runner process
        "ovms__accelerators.md",  # OpenVINO Model Server: one process
        "nvidia-container-toolkit__runtime-readme.md",  # `--gpus all ubuntu:18.04`: a bare OS image
        "hami__nvidia-use-exclusive-card.yaml",  # 2 GPUs, ubuntu sleeping: was a 'proves' blocker
    ],
)
def test_one_rank_containers_get_no_shm_degraded(name: str) -> None:
    shm = [f for f in _findings(name) if f.cause == "shm.too-small"]
    assert shm and all(f.severity == "notice" and not f.edits for f in shm), [(f.severity, f.message) for f in shm]


def test_vllm_with_a_tp_size_still_needs_shm(tmp_path: Path) -> None:
    p = tmp_path / "run.sh"
    p.write_text("docker run --gpus all vllm/vllm-openai:latest meta-llama/Llama-3.1-8B-Instruct --tensor-parallel-size 2\n")
    assert "shm.too-small" in {f.cause for f in audit_model(load(p).model).findings if f.severity == "blocker"}


def test_device_plugin_daemonset_is_no_gpu_workload() -> None:
    """Intel's GPU plugin lists /dev/dri (read-only hostPath) for the kubelet: it was told the cgroup denies it, /tmp is
    unwritable, by-path is missing (blockers) and shm is small; --fix has nothing to change."""
    name = "intel-device-plugins__intel-gpu-plugin.yaml"
    assert not _above(name)
    assert fix_loaded(load(WILD / name), None).text == (WILD / name).read_text()


def test_gpuless_intel_images_are_no_bypath_blocker_nor_fixed_as_gpus() -> None:
    """CPU-only IPEX images (`intel/` in the name was taken for XPU) and build/test services given no GPU."""
    assert "oneccl.bypath-missing" not in _above("ai-containers__pytorch-readme.md")
    assert "oneccl.bypath-missing" not in _above("ai-containers__pytorch-compose.yaml")
    fixed = fix_loaded(load(WILD / "ai-containers__pytorch-readme.md"), None).text
    assert "docker run -it --rm intel/intel-extension-for-pytorch:latest\n" in fixed
    cpu = fixed[fixed.index("intel/intel-extension-for-pytorch:2.8.0-pip-jupyter") - 120 :]
    assert "RENDER_GID" not in cpu.split("intel/intel-extension-for-pytorch:2.8.0-pip-jupyter")[0]


def test_wsl_gpu_resource_counts_one_gpu() -> None:
    """gpu.intel.com/dxg: 1 (the Intel plugin on WSL2) was a GPU request of unknown size: by-path blocker, shm degraded;
    and `sh -c "clinfo | grep ..."` is a probe: --fix pins no oneCCL route and adds no /dev/shm."""
    name = "intel-device-plugins__intelgpu-job-wsl.yaml"
    svc = load(WILD / name).model.services[0]
    assert [(g.vendor, g.count) for g in svc.gpus] == [("intel", 1)]
    assert not _above(name)
    fixed = fix_loaded(load(WILD / name), None).text
    assert "CCL_ZE_IPC_EXCHANGE" not in fixed and "/dev/shm" not in fixed


def test_kfd_without_render_nodes() -> None:
    """ROCm-docker's compose maps /dev/kfd alone: libhsakmt counts a GPU only when its render node opens."""
    name = "rocm-docker__docker-compose.yml"
    f = [x for x in _findings(name) if x.cause == "device.render-node-missing"]
    assert [x.message.split()[0] for x in f] == ["rocm", "rocm-from-src", "dev-ubuntu", "dev-fedora"]
    assert all(x.severity == "blocker" for x in f)
    doc = YAML(typ="safe").load(fix_loaded(load(WILD / name), None).text)
    assert doc["services"]["rocm"]["devices"] == ["/dev/kfd", "/dev/dri/renderD128", "/dev/dri/renderD129"]


def test_kfd_with_render_nodes_is_fine(tmp_path: Path) -> None:
    p = tmp_path / "run.sh"
    p.write_text("docker run --device /dev/kfd --device /dev/dri/renderD128 rocm/pytorch python x.py\n")
    assert "device.render-node-missing" not in {f.cause for f in audit_model(load(p).model).findings}


def test_node_agent_daemonset_privileged_is_a_notice() -> None:
    """The GPU Operator's driver DaemonSet (privileged, hostPID) loads kernel modules: 10 degraded findings before."""
    name = "gpu-operator__driver-daemonset.yaml"
    got = [f for f in _findings(name) if f.cause in ("security.privileged", "audit.pid-host-with-ptrace")]
    assert len(got) == 10 and all(f.severity == "notice" for f in got)


def test_privileged_without_gpu_work_is_not_told_to_take_intels_bypath() -> None:
    f = next(x for x in _findings("moby__devcontainer.json") if x.cause == "security.privileged")
    assert "by-path" not in f.message and "Docker-in-Docker" in f.message


def test_commented_out_item_and_blank_line_stay_in_place() -> None:
    """`volumes_from` ended in `# - hcc-hsail-src:ro` and a blank line: --fix moved the comment below the new keys,
    de-indented, and dropped the blank line; a service ending in a blank line got its new keys after it."""
    name = "rocm-docker__docker-compose.yml"
    old = (WILD / name).read_text().splitlines()
    new = fix_loaded(load(WILD / name), None).text.splitlines()
    import difflib

    assert not [ln for ln in difflib.ndiff(old, new) if ln.startswith("- ")]  # only added lines
    i = new.index("      - hcc-lc-src:ro")
    assert new[i + 1] == "      # - hcc-hsail-src:ro" and new[i + 2] == "    group_add:"
    for svc in ("  rocm-from-src:", "  dev-ubuntu:", "  dev-fedora:"):
        j = new.index(svc)
        assert new[j - 1] == "" and new[j - 2] == "    shm_size: 16g", new[j - 3 : j + 1]


def test_blank_line_between_containers_stays_after_the_added_keys() -> None:
    """HAMi's benchmark Job: a blank line separates its two containers; --fix put the new mount and securityContext
    after it."""
    fixed = fix_loaded(load(WILD / "hami__job-on-hami.yml"), None).text.splitlines()
    j = fixed.index("        - name: benchmark-client")
    assert fixed[j - 1] == "" and fixed[j - 2] == "                - ALL"
    k = fixed.index("              mountPath: /dev/shm")
    assert fixed[k - 1] == "            - name: dshm" and fixed[k - 2] == "              mountPath: /results"


def test_one_process_intel_server_gets_no_oneccl_route() -> None:
    """OpenVINO Model Server, one render node a container: --fix added by-path and CCL_ZE_IPC_EXCHANGE=drmfd."""
    fixed = fix_loaded(load(WILD / "ovms__cb-scaling.md"), None).text
    assert "--volume /dev/dri/by-path" not in fixed and "CCL_ZE_IPC_EXCHANGE" not in fixed


def test_an_item_added_to_a_list_indented_otherwise_keeps_its_indentation(tmp_path: Path) -> None:
    """Intel's GPU plugin DaemonSet indents its `env:` items two blanks deeper than its other lists. Made a GPU workload
    (its kubelet socket mount taken out), --fix appends CCL_ZE_IPC_EXCHANGE to that env list: the item came at the
    other lists' indentation, the mixed list no longer read as the same document, and ruamel's whole dump was written
    (every env line re-indented; the first run saw it on the plugin itself, which --fix now leaves alone)."""
    text = (WILD / "intel-device-plugins__intel-gpu-plugin.yaml").read_text()
    text = text.replace("        - name: kubeletsockets\n          mountPath: /var/lib/kubelet/device-plugins\n", "")
    p = tmp_path / "ds.yaml"
    p.write_text(text)
    fixed = fix_loaded(load(p), None).text
    import difflib

    removed = [ln for ln in difflib.ndiff(text.splitlines(), fixed.splitlines()) if ln.startswith("- ")]
    # only the /dev/dri hostPath goes (a GPU workload gets gpu.intel.com/i915 from the plugin instead)
    assert removed == [
        "-         - name: devfs", "-           mountPath: /dev/dri", "-           readOnly: true",
        "-       - name: devfs", "-         hostPath:", "-           path: /dev/dri",
    ], removed  # fmt: skip
    assert "            fieldPath: status.hostIP\n          - name: CCL_ZE_IPC_EXCHANGE\n            value: drmfd\n" in fixed


# --- the bugs the third round found (gwild54), one test each -----------------------------------------------------


@pytest.mark.parametrize("name", ["jellyfin__hwaccel-intel.md", "jellyfin__hwaccel-amd.md"])
def test_comment_after_a_backslash_breaks_the_continuation(name: str) -> None:
    """jellyfin.org writes `--group-add="122" \\ # Change this ...`: the backslash escapes the blank and the comment
    ends the command (docker then gets a lone space for its image). It passed without a finding."""
    f = [x for x in _findings(name) if x.cause == "audit.shell-continuation-broken"]
    assert f and "comment after the backslash" in f[0].evidence[0].text
    fixed = fix_loaded(load(WILD / name), None).text
    assert '      --group-add="122" \\\n      --net=host \\\n' in fixed
    assert '     # Change this to match your "render" host group id and remove this comment\n     docker run -d \\\n' in fixed


@pytest.mark.parametrize(
    "name",
    [
        "linuxserver-ffmpeg__readme.md",  # ffmpeg with /dev/dri: three by-path blockers
        "jellyfin__container-podman.md",  # Jellyfin with /dev/dri: a by-path blocker
        "comfyui-docker__xpu-compose.yml",  # ComfyUI on an Intel GPU: a by-path blocker
        "tabby__docker.mdx",  # Tabby with --gpus all: shm.too-small degraded
    ],
)
def test_one_process_media_and_app_images_are_no_ranks(name: str) -> None:
    """Transcoders, media servers, ComfyUI and Tabby open their GPUs from one process: they were told oneCCL's by-path
    is missing (blocker) or TP needs a larger /dev/shm, and --fix gave them by-path, CCL_ZE_IPC_EXCHANGE and 16g."""
    got = {f.cause for f in _findings(name) if f.severity in ABOVE_NOTICE}
    assert not got & {"oneccl.bypath-missing", "shm.too-small"}, got
    fixed = fix_loaded(load(WILD / name), None).text
    assert "by-path" not in fixed.replace(load(WILD / name).text, "") and "CCL_ZE_IPC_EXCHANGE" not in fixed


def test_linuxserver_images_keep_the_capabilities_their_init_needs() -> None:
    """linuxserver/ffmpeg's wrapper runs usermod and `s6-setuidgid abc` (CHOWN, SETUID, SETGID): --fix added
    `--cap-drop ALL`, which stops it before ffmpeg starts."""
    fixed = fix_loaded(load(WILD / "linuxserver-ffmpeg__readme.md"), None).text
    assert "--cap-drop" not in fixed and fixed.count("no-new-privileges") == 4


@pytest.mark.parametrize(
    ("name", "above"),
    [
        ("text-generation-webui__nvidia-compose.yml", False),  # one process splits layers (llama.cpp, ExLlama)
        ("nv-ingest__devcontainer.json", False),  # a privileged dev container, GPU optional
        ("rocm-docker__readme.md", False),  # the interactive rocm-terminal (gwild52's leftover)
        ("rapids__cuvs-bench-readme.md", False),  # a one-process benchmark (gwild52's leftover)
        ("wolf__devcontainer.json", False),  # a game streamer's dev container (gwild52's leftover)
        ("megatron-lm__install.md", True),  # nvcr.io/nvidia/pytorch, which asks for more than 64 MB itself
        ("pytorch__devcontainer-cuda.json", True),  # built from a Dockerfile, named "PyTorch - CUDA"
        ("axolotl__docker-compose.yaml", True),  # compose service `axolotl` built from the repository
    ],
)
def test_every_gpu_of_unknown_use_gets_the_shm_notice(name: str, above: bool) -> None:
    """gwild52's leftover, decided: a container that sees every GPU and whose file names no parallel size, no launcher
    and no engine or framework image (a terminal, a benchmark, a media or game server, an unnamed local build) may use
    them from one process; its 64 MiB /dev/shm is what TP would need, a notice (--fix still writes 16g). A
    PyTorch-family or serving-engine image, or a launcher, keeps the degraded finding."""
    shm = [f for f in _findings(name) if f.cause == "shm.too-small"]
    assert shm, name
    if above:
        assert any(f.severity in ABOVE_NOTICE for f in shm), [(f.severity, f.message) for f in shm]
    else:
        assert all(f.severity == "notice" for f in shm), [(f.severity, f.message) for f in shm]


def test_console_prompt_on_continued_lines_is_not_an_argument() -> None:
    """LightLLM's installation.rst prompts every line of a continued `docker run` (`$   --shm-size 1g ... \\`): the
    `$` was taken for the image, the flags after it for its arguments, and the 1g /dev/shm for the 64 MiB default."""
    svc = load(WILD / "lightllm__installation.rst").model.services[0]
    assert svc.image == "ghcr.io/modeltc/lightllm:main" and svc.shm_size == 1024**3
    assert "shm.too-small" not in _above("lightllm__installation.rst")


def test_kaito_workspace_template_at_the_top_level_is_read() -> None:
    """KAITO's Workspace holds `inference.template` beside `resource`, with no `spec`: exit 2, 'no Pod, Deployment,
    ...'. Its container is read now, and --fix hardens it in place."""
    name = "kaito__custom-model-deployment.yaml"
    (svc,) = load(WILD / name).model.services
    assert svc.name.endswith(":inference/custom-llm-container") and svc.gpus
    code, _ = _invoke("audit", str(WILD / name))
    assert code == 0
    assert "allowPrivilegeEscalation: false" in fix_loaded(load(WILD / name), None).text


def test_weakened_confinement_of_a_service_without_gpu_is_a_notice() -> None:
    """An NVIDIA example's compose file runs a CPU Milvus with `seccomp:unconfined` beside its one-GPU vLLM: it was
    told, degraded, that tensor parallel does not need that. A service with no GPU is outside TP: a notice; the GPU
    Milvus of nv-ingest's compose file keeps the finding."""
    f = [x for x in _findings("generativeaiexamples__energy-compose-full.yml") if x.cause == "audit.seccomp-unconfined"]
    assert f and all(x.severity == "notice" for x in f)
    f = [x for x in _findings("nv-ingest__docker-compose.yaml") if x.cause == "audit.seccomp-unconfined"]
    assert f and all(x.severity == "degraded" for x in f)


def test_keys_added_to_a_service_with_a_merge_key_go_before_the_next_sections_comments() -> None:
    """AIBrix's standalone compose merges a GPU reservation (`<<: *common-gpu`) into each vLLM service: the `deploy:`
    --fix gives each of them (count: all) went below the comment lines that open the next section, because the
    comments were looked for after the last merged key (the anchor's) instead of the service's own last key."""
    fixed = fix_loaded(load(WILD / "aibrix__standalone-compose.yml"), None).text
    head = fixed.split("  # P/D Disaggregation Mode")[0]
    assert head.rstrip().endswith("=" * 40) and "count: all" in head.split("restart: unless-stopped")[-1]
    assert "count: all" not in fixed.split("  # P/D Disaggregation Mode")[1].split("  prefill-engine:")[0]


def test_imex_channel_claim_of_a_compute_domain_is_no_gpu() -> None:
    """The ComputeDomain in the file names the claim template NVIDIA's DRA driver creates for its IMEX channel: the
    MPI worker's claim on it was read as a GPU claim of unknown size, 'defined in another file'."""
    (_, worker) = load(WILD / "k8s-dra-driver-gpu__nvbandwidth-test-job-1.yaml").model.services
    assert [(g.via, g.count) for g in worker.gpus] == [("k8s-resource", 2)]
