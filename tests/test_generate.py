"""Generated deployments are valid for their runtime and pass our own audit (and PSS baseline)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from conftest import run_cli
from deploy_helpers import DATA, two_gpu_facts
from tpdoctor.deploy.audit import audit_model, load
from tpdoctor.deploy.fix import fix_loaded
from tpdoctor.deploy.generate import Intent, generate
from tpdoctor.rules.deploy_topology import pss_violations

COMPOSE_SCHEMA = DATA / "compose-spec.json"
IMAGES = ["ipex-llm-serving-xpu", "vllm-openai", "vllm-rocm", "llm-scaler-vllm", "vllm-xpu"]


def _compose_schema_errors(text: str) -> list[str]:
    import jsonschema

    schema = json.loads(COMPOSE_SCHEMA.read_text())
    data = YAML(typ="safe").load(text)
    v = jsonschema.Draft7Validator(schema)
    return [f"{list(e.path)}: {e.message}" for e in v.iter_errors(data)]


def _docker_compose_config(path: Path) -> None:
    exe = shutil.which("docker-compose")
    if exe is None:
        pytest.skip(
            "docker-compose not installed (CI: apt-get install -y --no-install-recommends docker-compose)"
        )
    env = {**os.environ, "RENDER_GID": "992", "VIDEO_GID": "44", "HF_TOKEN": ""}  # ROCm: /dev/kfd's GID too
    r = subprocess.run(
        [exe, "-f", str(path), "config", "-q"], capture_output=True, text=True, env=env, timeout=60
    )
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("image", IMAGES)
@pytest.mark.parametrize("facts", [None, "facts"])
def test_generated_compose_validates_and_audits_clean(image: str, facts: str | None, tmp_path: Path) -> None:
    it = Intent(image=image, tp=2, target="compose", facts=two_gpu_facts() if facts else None)
    text = generate(it)
    assert not _compose_schema_errors(text)
    p = tmp_path / "compose.yaml"
    p.write_text(text)
    _docker_compose_config(p)
    loaded = load(p)
    assert [f.cause for f in audit_model(loaded.model).findings if f.severity.value != "notice"] == []
    assert fix_loaded(loaded, None).text == text  # nothing left to tighten


def test_ipex_compose_has_start_script_env_and_drmfd(tmp_path: Path) -> None:
    svc = YAML(typ="safe").load(generate(Intent(tp=2)))["services"]["llm"]
    env = svc["environment"]
    assert (
        env["CCL_ZE_IPC_EXCHANGE"] == "drmfd"
        and env["FI_PROVIDER"] == "shm"
        and env["CCL_SAME_STREAM"] == "1"
    )
    assert "--tensor-parallel-size 2" in svc["command"][0] and "setvars.sh" in svc["command"][0]
    assert "/dev/dri/by-path:/dev/dri/by-path:ro" in svc["volumes"]


def test_privileged_security_is_commented_as_unsafe() -> None:
    text = generate(Intent(tp=2, security="privileged"))
    assert "privileged: true" in text and "UNSAFE" in text and "take over the host" in text
    assert not _compose_schema_errors(text)


def _k8s_validate(text: str) -> None:
    kv = pytest.importorskip("kubernetes_validate", reason="pip install kubernetes-validate (dev extra)")
    for doc in YAML(typ="safe").load_all(text):
        kv.validate(doc, "1.30.0", strict=True)


@pytest.mark.parametrize("image", IMAGES)
@pytest.mark.parametrize("pss", [None, "baseline"])
def test_generated_kubernetes_validates_and_fits_baseline(
    image: str, pss: str | None, tmp_path: Path
) -> None:
    it = Intent(image=image, tp=2, target="kubernetes", pss=pss, ipc_exchange="pidfd" if pss else "drmfd")
    text = generate(it)
    _k8s_validate(text)
    p = tmp_path / "deploy.yaml"
    p.write_text(text)
    loaded = load(p)
    for svc in loaded.model.services:
        assert pss_violations(svc) == []
    causes = {f.cause for f in audit_model(loaded.model, pss="baseline").findings}
    assert not causes & {"audit.pss-baseline-violation", "audit.hardening-missing", "shm.too-small"}


def test_kubernetes_fix_pss_baseline_removes_violations(tmp_path: Path) -> None:
    p = tmp_path / "pod.yaml"
    p.write_text(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: xpu  # serving pod\nspec:\n  hostIPC: true\n"
        "  containers:\n    - name: vllm\n      image: intelanalytics/ipex-llm-serving-xpu:latest\n"
        "      args: ['--tensor-parallel-size', '2']\n"
        "      securityContext:\n        privileged: true\n        capabilities: {add: [SYS_PTRACE, SYS_ADMIN]}\n"
        "      volumeMounts: [{name: dri, mountPath: /dev/dri}]\n"
        "  volumes: [{name: dri, hostPath: {path: /dev/dri}}]\n"
    )
    before = {f.cause for f in audit_model(load(p).model, pss="baseline").findings}
    assert "audit.pss-baseline-violation" in before
    res = fix_loaded(load(p), None, pss="baseline")
    assert "# serving pod" in res.text
    _k8s_validate(res.text)
    p.write_text(res.text)
    after = load(p)
    assert all(pss_violations(s) == [] for s in after.model.services)
    doc = YAML(typ="safe").load(res.text)
    c = doc["spec"]["containers"][0]
    assert c["resources"]["limits"]["gpu.intel.com/i915"] == 2
    assert {"name": "CCL_ZE_IPC_EXCHANGE", "value": "drmfd"} in c["env"]
    assert fix_loaded(after, None, pss="baseline").text == res.text
    assert any("pidfd" in n for pl in res.plans for n in pl.cannot)


@pytest.mark.parametrize("target", ["docker-run", "podman"])
def test_generated_run_scripts_parse_and_audit_clean(target: str, tmp_path: Path) -> None:
    text = generate(Intent(tp=2, target=target))  # type: ignore[arg-type]
    p = tmp_path / "run.sh"
    p.write_text(text)
    r = subprocess.run(["sh", "-n", str(p)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    loaded = load(p)
    assert loaded.fmt == ("podman" if target == "podman" else "docker")
    assert [f.cause for f in audit_model(loaded.model).findings if f.severity.value != "notice"] == []
    if target == "podman":
        assert "--group-add keep-groups" in text


def test_cli_generate_refuses_to_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "c.yaml"
    assert run_cli("generate", "--tp", "2", "-o", str(out)).returncode == 0
    r = run_cli("generate", "--tp", "2", "-o", str(out))
    assert r.returncode == 2 and "refusing" in r.stderr
    assert run_cli("generate", "--image", "my/custom:1").returncode == 2


def test_fixed_article_compose_validates(tmp_path: Path) -> None:
    p = tmp_path / "compose.yaml"
    shutil.copy(DATA / "deploy" / "article-compose.yaml", p)
    text = fix_loaded(load(p), two_gpu_facts()).text
    assert not _compose_schema_errors(text)
    p.write_text(text)
    _docker_compose_config(p)


@pytest.mark.parametrize("image", ["llm-scaler-vllm", "vllm-xpu"])
def test_intel_image_entrypoint_sources_oneapi_then_execs_vllm(image: str, tmp_path: Path) -> None:
    """The generated entrypoint, run by a real bash: it sources setvars.sh / ccl vars.sh when present,
    survives their absence, and hands every argument to `vllm serve` (a stub here)."""
    svc = YAML(typ="safe").load(generate(Intent(image=image, tp=2)))["services"]["llm"]
    entry, cmd = svc["entrypoint"], svc["command"]
    assert entry[:2] == ["bash", "-c"] and entry[3] == "--"
    script = entry[2].replace("$$", "$")  # compose's escape, undone as compose does
    oneapi = tmp_path / "oneapi"
    (oneapi / "ccl/2021.15/env").mkdir(parents=True)
    (oneapi / "setvars.sh").write_text('export SETVARS_COMPLETED=1; echo "setvars args: $*" >&2\n')
    (oneapi / "ccl/2021.15/env/vars.sh").write_text(
        "export LD_LIBRARY_PATH=/opt/intel/oneapi/ccl/2021.15/lib\n"
    )
    stub = tmp_path / "bin"
    stub.mkdir()
    (stub / "vllm").write_text(
        '#!/bin/sh\necho "SETVARS=$SETVARS_COMPLETED LD=$LD_LIBRARY_PATH"; printf "%s\\n" "$@"\n'
    )
    (stub / "vllm").chmod(0o755)
    env = {"PATH": f"{stub}:/usr/bin:/bin"}
    ran = subprocess.run(
        ["bash", "-c", script.replace("/opt/intel/oneapi", str(oneapi)), "--", *cmd],
        capture_output=True,
        text=True,
        env=env,
    )
    lines = ran.stdout.splitlines()
    assert lines[0] == "SETVARS=1 LD=/opt/intel/oneapi/ccl/2021.15/lib" and lines[1:] == ["serve", *cmd]
    assert "setvars args: --force" in ran.stderr
    bare = subprocess.run(
        ["bash", "-c", script.replace("/opt/intel/oneapi", str(tmp_path / "none")), "--", *cmd],
        capture_output=True,
        text=True,
        env=env,
    )
    assert bare.returncode == 0 and bare.stdout.splitlines()[1:] == ["serve", *cmd]


@pytest.mark.parametrize(
    "image", ["intel/llm-scaler-vllm:0.21.0-b2", "intel/vllm:0.17.0-xpu", "vllm-xpu-env"]
)
def test_audit_flags_intel_images_started_without_oneapi(image: str, tmp_path: Path) -> None:
    p = tmp_path / "compose.yaml"
    p.write_text(
        f"services:\n  app:\n    image: {image}\n    devices: [/dev/dri/renderD128, /dev/dri/renderD129]\n"
        '    command: ["Qwen/Qwen3-8B", "-tp", "2"]\n'
    )
    assert "oneccl.setvars-not-sourced" in {f.cause for f in audit_model(load(p).model).findings}
    interactive = p.read_text().replace(
        '    command: ["Qwen/Qwen3-8B", "-tp", "2"]\n', "    entrypoint: [/bin/bash]\n"
    )
    p.write_text(interactive)  # a login shell reads /root/.bashrc
    assert "oneccl.setvars-not-sourced" not in {f.cause for f in audit_model(load(p).model).findings}
    p.write_text(p.read_text().replace("image: " + image, "image: vllm/vllm-openai:latest"))
    assert "oneccl.setvars-not-sourced" not in {f.cause for f in audit_model(load(p).model).findings}


@pytest.mark.parametrize(
    ("image", "device_class", "vendor"),
    [
        ("llm-scaler-vllm", "gpu.intel.com", "intel"),
        ("vllm-xpu", "gpu.intel.com", "intel"),
        ("vllm-openai", "gpu.nvidia.com", "nvidia"),
    ],
)
def test_generated_dra_claim_validates_and_audit_reads_it(
    image: str, device_class: str, vendor: str, tmp_path: Path
) -> None:
    """resource.k8s.io/v1 is GA in Kubernetes 1.34; kubernetes-validate 1.37 has its schema."""
    text = generate(Intent(image=image, tp=2, target="kubernetes", gpu_allocation="dra"))
    kv = pytest.importorskip("kubernetes_validate", reason="pip install kubernetes-validate (dev extra)")
    docs = list(YAML(typ="safe").load_all(text))
    for doc in docs:
        kv.validate(doc, "1.34.0", strict=True)
    claim = docs[0]["spec"]["spec"]["devices"]["requests"][0]["exactly"]
    assert (docs[0]["kind"], claim["deviceClassName"], claim["count"]) == (
        "ResourceClaimTemplate",
        device_class,
        2,
    )
    c = docs[1]["spec"]["template"]["spec"]["containers"][0]
    assert (
        c["resources"]["claims"] == [{"name": "gpus"}]
        and "gpu.intel.com/i915" not in c["resources"]["limits"]
    )
    p = tmp_path / "dra.yaml"
    p.write_text(text)
    loaded = load(p)
    svc = loaded.model.services[0]
    assert [(g.via, g.vendor, g.count) for g in svc.gpus] == [("dra", vendor, 2)]
    assert [f.cause for f in audit_model(loaded.model).findings if f.severity.value != "notice"] == []
    assert fix_loaded(loaded, None).text == text  # no device-plugin limit added next to the claim
    p.write_text(text.replace("count: 2  #", "count: 1  #"))
    causes = {f.cause for f in audit_model(load(p).model).findings}
    assert "vllm.tp-exceeds-visible-gpus" in causes


def test_dra_is_refused_where_no_driver_is_modelled() -> None:
    assert (
        run_cli(
            "generate", "--image", "vllm-rocm", "--target", "kubernetes", "--gpu-allocation", "dra"
        ).returncode
        == 2
    )
    assert run_cli("generate", "--gpu-allocation", "dra").returncode == 2  # compose has no DRA


def test_audit_reads_a_resource_claim_and_an_external_one(tmp_path: Path) -> None:
    """The Intel driver's own example shape (deployments/gpu/examples/pod-inline-aligned-gpus.yaml)."""
    p = tmp_path / "pod.yaml"
    p.write_text(
        "apiVersion: resource.k8s.io/v1\nkind: ResourceClaim\nmetadata: {name: same-pciroot-gpus}\n"
        "spec:\n  devices:\n    requests:\n    - name: gpu\n      exactly: {deviceClassName: gpu.intel.com, count: 2}\n"
        "    constraints:\n    - matchAttribute: gpu.intel.com/pciRoot\n---\n"
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n"
        "  - name: a\n    image: intel/vllm:0.17.0-xpu\n    resources: {claims: [{name: r}]}\n"
        "  - name: b\n    image: intel/vllm:0.17.0-xpu\n    resources: {claims: [{name: ext}]}\n"
        "  resourceClaims:\n  - {name: r, resourceClaimName: same-pciroot-gpus}\n"
        "  - {name: ext, resourceClaimTemplateName: elsewhere}\n"
    )
    a, b = load(p).model.services
    assert [(g.via, g.vendor, g.count) for g in a.gpus] == [("dra", "intel", 2)]
    assert [(g.via, g.count) for g in b.gpus] == [("dra", None)] and "not in this file" in b.gpus[0].raw


def test_audit_fix_wraps_an_intel_image_entrypoint(tmp_path: Path) -> None:
    """`audit --fix` on compose: the service's own entrypoint (here the image's, `vllm serve`) runs
    after the guarded oneAPI sources; the command is untouched, a second fix changes nothing, and
    a real bash hands the command to vllm."""
    p = tmp_path / "compose.yaml"
    p.write_text(
        "services:\n  vllm:\n    image: intel/llm-scaler-vllm:0.21.0-b2  # Intel's image\n"
        "    devices: [/dev/dri/renderD128, /dev/dri/renderD129]\n"
        '    volumes: ["/dev/dri/by-path:/dev/dri/by-path:ro"]\n    shm_size: 32g\n'
        '    command: ["--model", "/llm/models/Qwen3-14B", "-tp", "2"]\n'
    )
    res = fix_loaded(load(p), None)
    assert "# Intel's image" in res.text
    p.write_text(res.text)
    _docker_compose_config(p)
    loaded = load(p)
    assert "oneccl.setvars-not-sourced" not in {f.cause for f in audit_model(loaded.model).findings}
    assert fix_loaded(loaded, None).text == res.text
    svc = YAML(typ="safe").load(res.text)["services"]["vllm"]
    entry = [e.replace("$$", "$") for e in svc["entrypoint"]]
    assert entry[:2] == ["bash", "-c"] and entry[3:] == ["--", "vllm", "serve"]
    stub = tmp_path / "bin"
    stub.mkdir()
    (stub / "vllm").write_text('#!/bin/sh\nprintf "%s\\n" "$@"\n')
    (stub / "vllm").chmod(0o755)
    ran = subprocess.run(
        [*entry, *svc["command"]], capture_output=True, text=True, env={"PATH": f"{stub}:/usr/bin:/bin"}
    )
    assert ran.stdout.splitlines() == ["serve", *svc["command"]]


def test_audit_fix_docker_run_says_how_to_source_oneapi(tmp_path: Path) -> None:
    p = tmp_path / "run.sh"
    p.write_text("docker run --device /dev/dri/renderD128 intel/vllm:0.17.0-xpu Qwen/Qwen3-8B -tp 1\n")
    res = fix_loaded(load(p), None)
    assert any("setvars.sh" in n and "vllm serve" in n for pl in res.plans for n in pl.cannot)
