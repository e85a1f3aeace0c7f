"""audit: fs.jit-cache-noexec for a JIT cache variable that points into a tmpfs the file mounts without exec, the
parsers' reading of a tmpfs's options (`/tmp:exec`, `--tmpfs=/tmp:size=1g`), and the /tmp tmpfs tpdoctor writes
(generate, and `audit --fix` of a read-only root) being exec in every form. The container measurement behind it is
tests/containers/test_container_tmp_exec.py (docs/generate.md)."""

from __future__ import annotations

from pathlib import Path

import pytest
from ruamel.yaml import YAML

from tpdoctor.deploy.audit import audit_model, load
from tpdoctor.deploy.fix import fix_loaded
from tpdoctor.deploy.generate import Intent, generate
from tpdoctor.deploy.model import MountSpec, tmpfs_mount

CAUSE = "fs.jit-cache-noexec"
GPU = "--gpus all"
IMG = "vllm/vllm-openai --tensor-parallel-size 2"


def _audit(tmp_path: Path, name: str, text: str) -> dict[str, list[str]]:
    p = tmp_path / name
    p.write_text(text)
    found: dict[str, list[str]] = {}
    for f in audit_model(load(p, None).model, None).findings:
        found.setdefault(f.cause, []).extend(e.text for e in f.evidence)
    return found


@pytest.mark.parametrize(
    ("raw", "target", "options", "size", "noexec"),
    [
        ("/tmp", "/tmp", [], None, True),
        ("/tmp:exec", "/tmp", ["exec"], None, False),
        ("/tmp:rw,exec,mode=1777", "/tmp", ["rw", "exec", "mode=1777"], None, False),
        ("/tmp:size=1g", "/tmp", ["size=1g"], "1g", True),
        ("/tmp:exec,noexec", "/tmp", ["exec", "noexec"], None, True),  # the last one wins (MergeTmpfsOptions)
        ("/tmp:noexec,exec", "/tmp", ["noexec", "exec"], None, False),
        ("/run:ro", "/run", ["ro"], None, True),
    ],
)
def test_tmpfs_item_is_read_as_target_and_options(
    raw: str, target: str, options: list[str], size: str | None, noexec: bool
) -> None:
    m = tmpfs_mount(raw)
    assert (m.kind, m.target, m.options, m.size, m.noexec_under("docker"), m.raw) == ("tmpfs", target, options, size, noexec, raw)
    assert m.read_only == ("ro" in options)


def test_only_a_tmpfs_is_judged_noexec() -> None:
    assert not MountSpec(kind="bind", source="/x", target="/tmp").noexec_under("docker")
    assert not MountSpec(kind="emptyDir", target="/tmp").noexec_under("docker")
    assert MountSpec(kind="tmpfs", target="/tmp").noexec_under("docker")  # a long-syntax or --mount tmpfs: the default


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("c.yaml", "services:\n  llm:\n    image: x\n    tmpfs:\n      - /tmp:exec\n"),
        ("c.yaml", "services:\n  llm:\n    image: x\n    tmpfs: /tmp:exec\n"),
        ("r.sh", "docker run --tmpfs /tmp:exec x\n"),
        ("r.sh", "docker run --tmpfs=/tmp:exec x\n"),
        ("p.sh", "podman run --tmpfs /tmp:exec x\n"),
    ],
)
def test_compose_and_run_parsers_read_tmp_exec(tmp_path: Path, name: str, text: str) -> None:
    p = tmp_path / name
    p.write_text(text)
    (svc,) = load(p, None).model.services
    (m,) = [m for m in svc.mounts if m.kind == "tmpfs"]
    assert (m.target, m.options, m.noexec_under("docker")) == ("/tmp", ["exec"], False)
    assert svc.has_mount_target("/tmp") is m


@pytest.mark.parametrize(
    "text",
    [
        f"docker run {GPU} --tmpfs /tmp -e TORCHINDUCTOR_CACHE_DIR=/tmp/inductor {IMG}\n",
        f"docker run {GPU} --tmpfs /tmp -e TRITON_CACHE_DIR=/tmp/triton {IMG}\n",
        f"docker run {GPU} --tmpfs /tmp -e TRITON_HOME=/tmp {IMG}\n",
        f"docker run {GPU} --tmpfs /tmp -e TORCH_EXTENSIONS_DIR=/tmp/ext {IMG}\n",
        f"docker run {GPU} --tmpfs=/tmp:rw,size=1g -e TORCHINDUCTOR_CACHE_DIR=/tmp/inductor {IMG}\n",
        f"docker run {GPU} --tmpfs /tmp:exec,noexec -e TORCHINDUCTOR_CACHE_DIR=/tmp/i {IMG}\n",
        f"docker run {GPU} --tmpfs /cache -e TRITON_CACHE_DIR=/cache/triton {IMG}\n",  # any tmpfs, not only /tmp
        f"docker run {GPU} --mount type=tmpfs,destination=/tmp -e TRITON_CACHE_DIR=/tmp/t {IMG}\n",
        f"podman run --device nvidia.com/gpu=all --tmpfs /tmp:noexec -e TRITON_CACHE_DIR=/tmp/t {IMG}\n",
        # a leading '//' (POSIX leaves its meaning open, normpath keeps it; Linux reads it as '/')
        f"docker run {GPU} --tmpfs /tmp -e TRITON_CACHE_DIR=//tmp/triton {IMG}\n",
    ],
)
def test_a_cache_variable_in_a_noexec_tmpfs_is_a_blocker(tmp_path: Path, text: str) -> None:
    found = _audit(tmp_path, "run.sh", text)
    assert CAUSE in found, found
    assert "noexec unless its options say exec" in found[CAUSE][0]


@pytest.mark.parametrize(
    "text",
    [
        f"docker run {GPU} --tmpfs /tmp:exec -e TORCHINDUCTOR_CACHE_DIR=/tmp/inductor {IMG}\n",
        f"docker run {GPU} --tmpfs /tmp:noexec,exec -e TRITON_CACHE_DIR=/tmp/t {IMG}\n",
        # the default Inductor cache (/tmp/torchinductor_<user>) on a noexec /tmp is not judged (as in check)
        f"docker run {GPU} --tmpfs /tmp {IMG}\n",
        f"docker run {GPU} --tmpfs /tmp -e TMPDIR=/tmp {IMG}\n",
        f"docker run {GPU} --tmpfs /tmp -e HOME=/tmp {IMG}\n",
        # the cache is on a volume mounted below the tmpfs, or elsewhere
        f"docker run {GPU} --tmpfs /tmp -v jit:/tmp/jit -e TRITON_CACHE_DIR=/tmp/jit/triton {IMG}\n",
        f"docker run {GPU} --tmpfs /tmp -e TRITON_CACHE_DIR=/var/cache/triton {IMG}\n",
        f"docker run {GPU} --tmpfs /tmp -e TRITON_CACHE_DIR=/tmpfoo/triton {IMG}\n",
        f"docker run {GPU} -e TRITON_CACHE_DIR=/tmp/triton {IMG}\n",
        # Podman adds noexec to a tmpfs only when told (pkg/util/mount_opts.go, getDefaultMountOptions("")), whatever
        # its docs say
        f"podman run --device nvidia.com/gpu=all --tmpfs /tmp -e TRITON_CACHE_DIR=/tmp/t {IMG}\n",
    ],
)
def test_exec_a_volume_or_a_default_location_is_not_this(tmp_path: Path, text: str) -> None:
    assert CAUSE not in _audit(tmp_path, "run.sh", text)


def test_kubernetes_emptydir_is_never_noexec(tmp_path: Path) -> None:
    text = generate(Intent(image="vllm-openai", tp=2, target="kubernetes"))
    env = '            - name: TRITON_CACHE_DIR\n              value: "/tmp/t"\n'
    text = text.replace("            - name: NCCL_DEBUG", env + "            - name: NCCL_DEBUG")
    assert "TRITON_CACHE_DIR" in text
    assert CAUSE not in _audit(tmp_path, "k.yaml", text)


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ("--tmpfs /tmp", "--tmpfs /tmp:exec"),
        ("--tmpfs=/tmp:rw,size=1g", "--tmpfs=/tmp:rw,size=1g,exec"),
        ("--tmpfs /tmp:noexec", "--tmpfs /tmp:exec"),
    ],
)
def test_fix_gives_the_run_tmpfs_exec(tmp_path: Path, before: str, after: str) -> None:
    p = tmp_path / "run.sh"
    p.write_text(f"docker run {GPU} {before} -e TORCHINDUCTOR_CACHE_DIR=/tmp/inductor {IMG}\n")
    fixed = fix_loaded(load(p, None), None).text
    assert after in fixed, fixed
    p.write_text(fixed)
    assert CAUSE not in _audit(tmp_path, "run.sh", fixed)


def test_fix_gives_the_compose_tmpfs_exec(tmp_path: Path) -> None:
    p = tmp_path / "compose.yaml"
    p.write_text(
        "services:\n  llm:\n    image: vllm/vllm-openai\n    tmpfs:\n      - /tmp  # sockets\n"
        "    environment:\n      TRITON_CACHE_DIR: /tmp/triton\n"
        "    command: [--tensor-parallel-size, '2']\n"
        "    deploy: {resources: {reservations: {devices: [{driver: nvidia, count: 2, capabilities: [gpu]}]}}}\n"
    )
    fixed = fix_loaded(load(p, None), None).text
    assert YAML(typ="safe").load(fixed)["services"]["llm"]["tmpfs"] == ["/tmp:exec"]
    assert "# sockets" in fixed
    assert CAUSE not in _audit(tmp_path, "compose.yaml", fixed)


@pytest.mark.parametrize("target", ["compose", "docker-run", "podman", "kubernetes"])
@pytest.mark.parametrize("image", ["vllm-openai", "ipex-llm-serving-xpu", "vllm-rocm"])
def test_generated_tmp_is_exec_in_every_form(tmp_path: Path, target: str, image: str) -> None:
    text = generate(Intent(image=image, tp=2, target=target))  # type: ignore[arg-type]
    p = tmp_path / ("gen.yaml" if target in ("compose", "kubernetes") else "gen.sh")
    p.write_text(text)
    (svc,) = load(p, None).model.services
    tmp = svc.has_mount_target("/tmp")
    assert tmp is not None
    if target == "kubernetes":
        assert (tmp.kind, tmp.medium) == ("emptyDir", None)  # a directory on the node's disk: no noexec
    else:
        assert (tmp.kind, tmp.raw, tmp.noexec_under("docker")) == ("tmpfs", "/tmp:exec", False)
        assert "torch.compile loads the .so files it builds there" in text
    # and the generated file still audits clean with a cache variable set under /tmp
    svc.env["TORCHINDUCTOR_CACHE_DIR"] = "/tmp/inductor"
    from tpdoctor.deploy.model import DeploymentModel

    model = DeploymentModel(source=str(p), format=svc.format, services=[svc])
    assert CAUSE not in {f.cause for f in audit_model(model, None).findings}


def test_fix_of_a_read_only_root_adds_an_exec_tmp(tmp_path: Path) -> None:
    p = tmp_path / "run.sh"
    p.write_text(f"docker run {GPU} --read-only --shm-size 16g -e TRITON_CACHE_DIR=/tmp/t {IMG}\n")
    found = _audit(tmp_path, "run.sh", p.read_text())
    assert "oneccl.tmp-unwritable" in found and CAUSE not in found
    fixed = fix_loaded(load(p, None), None).text
    assert "--tmpfs /tmp:exec" in fixed, fixed
    assert not {"oneccl.tmp-unwritable", CAUSE} & set(_audit(tmp_path, "run.sh", fixed))


_LLM = (
    "    environment:\n      TRITON_CACHE_DIR: /tmp/triton\n    command: [--tensor-parallel-size, '2']\n"
    "    deploy: {resources: {reservations: {devices: [{driver: nvidia, count: 2, capabilities: [gpu]}]}}}\n"
)


def test_fix_of_a_scalar_tmpfs_changes_it_in_place(tmp_path: Path) -> None:
    p = tmp_path / "compose.yaml"
    p.write_text("services:\n  llm:\n    image: vllm/vllm-openai\n    tmpfs: /tmp\n" + _LLM)
    fixed = fix_loaded(load(p, None), None).text
    assert YAML(typ="safe").load(fixed)["services"]["llm"]["tmpfs"] == "/tmp:exec", fixed
    assert CAUSE not in _audit(tmp_path, "compose.yaml", fixed)


def test_fix_leaves_a_shared_anchor_to_the_other_services(tmp_path: Path) -> None:
    """`tmpfs: *tmp` shared with a web server: exec is this service's own list, the anchor stays noexec."""
    p = tmp_path / "compose.yaml"
    p.write_text(
        "x-tmp: &tmp\n  - /tmp\nservices:\n  llm:\n    image: vllm/vllm-openai\n    tmpfs: *tmp\n" + _LLM
        + "  web:\n    image: nginx\n    read_only: true\n    tmpfs: *tmp\n"
    )
    fixed = fix_loaded(load(p, None), None).text
    data = YAML(typ="safe").load(fixed)
    assert data["services"]["llm"]["tmpfs"] == ["/tmp:exec"], fixed
    assert data["services"]["web"]["tmpfs"] == ["/tmp"] == data["x-tmp"], fixed


def test_fix_keeps_an_item_that_comes_from_a_variable(tmp_path: Path) -> None:
    p = tmp_path / "compose.yaml"
    p.write_text("services:\n  llm:\n    image: vllm/vllm-openai\n    tmpfs:\n      - ${T:-/tmp}\n" + _LLM)
    result = fix_loaded(load(p, None), None)
    assert "- ${T:-/tmp}" in result.text, result.text
    assert CAUSE in _audit(tmp_path, "compose.yaml", result.text)  # still reported: the fix is the user's to make
