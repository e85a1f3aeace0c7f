"""Family rules on Facts built directly and on fake roots (issue 3 acceptance cases)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from fakeroot import DOCKER_DEFAULT_CAPS, FULL_CAPS, char, nvidia_nodes, nvidia_root
from tpdoctor.facts.collect import collect_facts
from tpdoctor.model import CheckOptions, Facts, Finding
from tpdoctor.model.facts import (
    ContainerFacts,
    CpuFacts,
    KernelFacts,
    LimitFacts,
    LsmFacts,
    NvidiaFacts,
    NvidiaGpu,
    ProcessFacts,
    ShmFacts,
    UsernsFacts,
)
from tpdoctor.rules import run_fact_rules

CUDA2 = CheckOptions(tp=2, backend="cuda")
DOCKER = ProcessFacts(cap_eff=DOCKER_DEFAULT_CAPS, seccomp=2, uid=0)


def causes(findings: list[Finding]) -> dict[str, Finding]:
    return {f.cause: f for f in findings}


def run(facts: Facts, options: CheckOptions = CUDA2) -> dict[str, Finding]:
    return causes(run_fact_rules(facts, options))


# --- acceptance cases on fake roots ---------------------------------------------------------------


def test_64mib_shm_with_tp2_cuda_is_a_blocker(tmp_path: Path) -> None:
    found = run(collect_facts(nvidia_root(tmp_path, shm="size=65536k"), {}, live=False))
    assert found["shm.too-small"].severity.value == "blocker"
    assert "64.0 MiB" in found["shm.too-small"].message
    assert found["shm.too-small"].fixes[0].id == "shm-size"


def test_16g_shm_is_fine(tmp_path: Path) -> None:
    assert "shm.too-small" not in run(collect_facts(nvidia_root(tmp_path, shm="size=16g"), {}, live=False))


def test_missing_nvidia_uvm_is_reported(tmp_path: Path) -> None:
    found = run(collect_facts(nvidia_root(tmp_path, uvm=False, shm="size=16g"), {}, live=False))
    finding = found["device.nvidia-node-missing"]
    assert finding.severity.value == "blocker" and "/dev/nvidia-uvm" in finding.message
    assert "/dev/nvidiactl" not in finding.message


def test_cuda_visible_devices_2_3_in_a_two_gpu_container(tmp_path: Path) -> None:
    facts = collect_facts(nvidia_root(tmp_path, shm="size=16g"), {}, live=False)
    facts.env = {"CUDA_VISIBLE_DEVICES": "2,3"}  # the env collector belongs to the check foundation
    found = run(facts)
    assert "cuda.visible-devices-mismatch" in found
    assert "sees 0 GPU(s)" in found["cuda.visible-devices-mismatch"].message
    # with no GPU visible, --tp 2 cannot start either
    assert "vllm.tp-exceeds-visible-gpus" in found


def test_full_caps_and_seccomp_0_is_privileged(tmp_path: Path) -> None:
    facts = collect_facts(nvidia_root(tmp_path, cap_eff=FULL_CAPS, seccomp=0, shm="size=16g"), {}, live=False)
    assert "security.privileged" in run(facts)
    facts.container = ContainerFacts(runtime="docker")
    assert run(facts)["security.privileged"].severity.value == "degraded"
    facts.container = ContainerFacts(runtime="none")
    assert "security.privileged" not in run(facts)


# --- NVIDIA -----------------------------------------------------------------------------------


def test_healthy_two_gpu_container_has_no_blocker() -> None:
    facts = Facts(dev=nvidia_nodes(2), process=DOCKER, shm=ShmFacts(present=True, size_bytes=16 << 30))
    assert not [f for f in run_fact_rules(facts, CUDA2) if f.severity.value == "blocker"]


def test_nothing_is_said_about_nodes_when_dev_was_not_listed() -> None:
    facts = Facts(nvidia=NvidiaFacts(gpus=[NvidiaGpu(index=0, minor=0), NvidiaGpu(index=1, minor=1)]))
    assert "device.nvidia-node-missing" not in run(facts)


def test_missing_gpu_node_for_one_rank() -> None:
    facts = Facts(
        dev=[n for n in nvidia_nodes(2) if n.path != "/dev/nvidia1"],
        nvidia=NvidiaFacts(gpus=[NvidiaGpu(index=0, minor=0), NvidiaGpu(index=1, minor=1)]),
    )
    assert "/dev/nvidia1" in run(facts)["device.nvidia-node-missing"].message


def test_missing_node_on_bare_host_with_mknod_is_only_a_notice() -> None:
    facts = Facts(
        dev=[n for n in nvidia_nodes(2) if n.path != "/dev/nvidia-uvm"],
        process=ProcessFacts(cap_eff=FULL_CAPS, seccomp=0),
        container=ContainerFacts(runtime="none"),
    )
    assert run(facts)["device.nvidia-node-missing"].severity.value == "notice"


def test_nvidia_visible_devices_lists_more_gpus_than_nodes() -> None:
    facts = Facts(dev=nvidia_nodes(1), env={"NVIDIA_VISIBLE_DEVICES": "0,1"})
    assert "device.nvidia-node-missing" in run(facts)


def test_host_indices_are_fine_when_nodes_keep_host_minors() -> None:
    # --gpus '"device=2,3"' gives /dev/nvidia2 and /dev/nvidia3, renumbered 0,1 by CUDA
    facts = Facts(dev=nvidia_nodes(2, first=2), env={"CUDA_VISIBLE_DEVICES": "0,1"})
    found = run(facts)
    assert "cuda.visible-devices-mismatch" not in found and "vllm.tp-exceeds-visible-gpus" not in found


def test_uuid_mask_must_match_a_present_gpu() -> None:
    nv = NvidiaFacts(gpus=[NvidiaGpu(index=0, uuid="GPU-aaa"), NvidiaGpu(index=1, uuid="GPU-bbb")])
    ok = Facts(dev=nvidia_nodes(2), nvidia=nv, env={"CUDA_VISIBLE_DEVICES": "GPU-aaa,GPU-bbb"})
    bad = Facts(dev=nvidia_nodes(2), nvidia=nv, env={"CUDA_VISIBLE_DEVICES": "GPU-zzz"})
    assert "cuda.visible-devices-mismatch" not in run(ok)
    assert "cuda.visible-devices-mismatch" in run(bad)


def test_tp_larger_than_gpus() -> None:
    found = run(Facts(dev=nvidia_nodes(2)), CheckOptions(tp=4, backend="cuda"))
    assert found["vllm.tp-exceeds-visible-gpus"].severity.value == "blocker"
    pp = run(Facts(dev=nvidia_nodes(2)), CheckOptions(tp=2, pp=2, backend="cuda"))
    assert pp["vllm.tp-exceeds-visible-gpus"].severity.value == "degraded"


def test_p2p_unsupported_and_disabled() -> None:
    nv = NvidiaFacts(p2p={"0-1": "CNS"})
    found = run(Facts(dev=nvidia_nodes(2), nvidia=nv))
    assert "nccl.p2p-unsupported" in found and "vllm.custom-allreduce-p2p" in found
    told = run(Facts(dev=nvidia_nodes(2), nvidia=nv, env={"NCCL_P2P_DISABLE": "1"}))
    assert "nccl.p2p-unsupported" not in told and "vllm.custom-allreduce-p2p" in told
    nvlink = NvidiaFacts(p2p={"0-1": "OK"}, nvlinks={"0-1": 18})
    assert "nccl.p2p-disabled" in run(
        Facts(dev=nvidia_nodes(2), nvidia=nvlink, env={"NCCL_P2P_DISABLE": "1"})
    )
    assert "nccl.p2p-disabled" not in run(Facts(dev=nvidia_nodes(2), nvidia=nvlink))


def test_imex_channel_needed_for_mnnvl() -> None:
    env = {"NCCL_MNNVL_ENABLE": "1"}
    assert "nccl.imex-channel-missing" in run(Facts(dev=nvidia_nodes(2), env=env))
    with_channel = [*nvidia_nodes(2), char("/dev/nvidia-caps-imex-channels/channel0", 234, 0)]
    assert "nccl.imex-channel-missing" not in run(Facts(dev=with_channel, env=env))


def test_expandable_segments_need_pidfd_getfd() -> None:
    env = {"PYTORCH_CUDA_ALLOC_CONF": "expandable_segments:True"}
    found = run(Facts(dev=nvidia_nodes(2), env=env, process=DOCKER, kernel=KernelFacts(ptrace_scope=1)))
    assert found["cuda.ipc-pidfd-denied"].confidence == "proves"
    ptrace = ProcessFacts(cap_eff=DOCKER_DEFAULT_CAPS | 1 << 19, seccomp=2)
    assert "cuda.ipc-pidfd-denied" not in run(Facts(dev=nvidia_nodes(2), env=env, process=ptrace))
    assert "cuda.ipc-pidfd-denied" not in run(Facts(dev=nvidia_nodes(2), process=DOCKER))


def test_cumem_host_fallback_notice() -> None:
    assert (
        run(Facts(dev=nvidia_nodes(2), process=DOCKER))["nccl.cumem-host-fallback"].severity.value == "notice"
    )
    off = Facts(dev=nvidia_nodes(2), process=DOCKER, env={"NCCL_CUMEM_HOST_ENABLE": "0"})
    assert "nccl.cumem-host-fallback" not in run(off)


def test_backend_is_inferred_from_nodes() -> None:
    found = run(Facts(dev=nvidia_nodes(1)), CheckOptions(tp=2))
    assert "vllm.tp-exceeds-visible-gpus" in found


# --- ROCm -------------------------------------------------------------------------------------

AMD = [char("/dev/dri/renderD128", 226, 128, gid=110), char("/dev/dri/renderD129", 226, 129, gid=110)]


def test_rocm_needs_kfd_and_valid_hip_mask() -> None:
    rocm = CheckOptions(tp=2, backend="rocm")
    found = run(Facts(dev=AMD, env={"HIP_VISIBLE_DEVICES": "4"}, process=DOCKER), rocm)
    assert {"device.kfd-missing", "rocm.visible-devices-mismatch", "rocm.ipc-ptrace-missing"} <= set(found)
    ok = run(Facts(dev=[*AMD, char("/dev/kfd", 235, 0)], env={"HIP_VISIBLE_DEVICES": "0,1"}), rocm)
    assert "device.kfd-missing" not in ok and "rocm.visible-devices-mismatch" not in ok
    assert "device.kfd-missing" in run(
        Facts(dev=[*AMD, char("/dev/null", 1, 3)]), CheckOptions(backend="rocm")
    )


# --- RDMA -------------------------------------------------------------------------------------


def test_rdma_rules() -> None:
    ib = [*nvidia_nodes(2), char("/dev/infiniband/uverbs0", 231, 192)]
    low = LimitFacts(memlock_soft=65536, memlock_hard=65536)
    found = run(Facts(dev=ib, limits=low, process=DOCKER))
    assert "rdma.memlock-too-low" in found and "rdma.ipc-lock-missing" in found
    unlimited = run(Facts(dev=ib, limits=LimitFacts(memlock_soft=-1), process=DOCKER))
    assert "rdma.memlock-too-low" not in unlimited and "rdma.ipc-lock-missing" not in unlimited
    asked = run(Facts(dev=nvidia_nodes(2), env={"NCCL_IB_HCA": "mlx5_0"}))
    assert "rdma.ib-device-missing" in asked
    off = run(Facts(dev=ib, limits=low, process=DOCKER, env={"NCCL_IB_DISABLE": "1"}))
    assert not any(c.startswith("rdma.") for c in off)


# --- security ---------------------------------------------------------------------------------


def test_seccomp_unconfined_in_container() -> None:
    facts = Facts(
        process=ProcessFacts(cap_eff=DOCKER_DEFAULT_CAPS, seccomp=0),
        container=ContainerFacts(runtime="docker"),
    )
    assert "security.seccomp-unconfined" in run(facts)


def test_selinux_and_apparmor() -> None:
    lsm = LsmFacts(selinux_enforce=1, selinux_label="system_u:system_r:container_t:s0:c1,c2")
    assert run(Facts(dev=nvidia_nodes(2), lsm=lsm))["lsm.selinux-device-denied"].confidence == "suggests"
    spc = LsmFacts(selinux_enforce=1, selinux_label="system_u:system_r:spc_t:s0")
    assert "lsm.selinux-device-denied" not in run(Facts(dev=nvidia_nodes(2), lsm=spc))
    env = {"PYTORCH_CUDA_ALLOC_CONF": "expandable_segments:True"}
    custom = LsmFacts(apparmor_profile="my-profile (enforce)")
    assert "lsm.apparmor-ptrace-denied" in run(Facts(dev=nvidia_nodes(2), lsm=custom, env=env))
    stock = LsmFacts(apparmor_profile="docker-default (enforce)")
    assert "lsm.apparmor-ptrace-denied" not in run(Facts(dev=nvidia_nodes(2), lsm=stock, env=env))


def test_userns_unmapped_device_group() -> None:
    # host root and the host render group are both outside the map: they show as 65534
    nodes = [
        char("/dev/dri/renderD128", 226, 128, gid=65534, mode=0o660, uid=65534),
        char("/dev/kfd", 235, 0, gid=65534, mode=0o660, uid=65534),
    ]
    userns = UsernsFacts(uid_map=["0 100000 65536"], gid_map=["0 100000 65536"])
    found = run(Facts(dev=nodes, userns=userns, process=ProcessFacts(uid=0)), CheckOptions(backend="rocm"))
    assert "userns.gid-unmapped" in found
    identity = UsernsFacts(uid_map=["0 0 4294967295"], gid_map=["0 0 4294967295"])
    assert "userns.gid-unmapped" not in run(Facts(dev=nodes, userns=identity), CheckOptions(backend="rocm"))


# --- env --------------------------------------------------------------------------------------


def test_typo_gets_did_you_mean_and_invalid_values_are_findings() -> None:
    env = {"CCL_ZE_IPC_EXHANGE": "drmfd", "CCL_ATL_TRANSPORT": "ofi2", "NCCL_P2P_LEVEL": "NVLINK"}
    found = run(Facts(env=env), CheckOptions(backend="xpu"))
    assert "did you mean CCL_ZE_IPC_EXCHANGE" in found["env.unknown-variable"].message
    invalid = [
        f
        for f in run_fact_rules(Facts(env=env), CheckOptions(backend="xpu"))
        if f.cause == "env.invalid-value"
    ]
    assert {f.evidence[0].source for f in invalid} == {"CCL_ATL_TRANSPORT", "NCCL_P2P_LEVEL"}
    assert next(f for f in invalid if f.evidence[0].source == "CCL_ATL_TRANSPORT").severity.value == "blocker"


@pytest.mark.parametrize(
    ("name", "value", "ok"),
    [
        ("CCL_DRMFD_DEV_RENDER_DIR_PATH", "/run/by-path", False),
        ("CCL_DRMFD_DEV_RENDER_DIR_PATH", "/run/by-path/", True),
        ("ONEAPI_DEVICE_SELECTOR", "level_zero/0", False),
        ("ONEAPI_DEVICE_SELECTOR", "level_zero:0,1", True),
        ("ZE_AFFINITY_MASK", "0.1,1", True),
        ("FI_PROVIDER", "shm", True),
        ("FI_PROVIDER", "shmem", False),
        ("VLLM_HOST_IP", "10.0.0.300", False),
        ("CCL_WORKER_COUNT", "0", False),
    ],
)
def test_value_validation(name: str, value: str, ok: bool) -> None:
    found = run(Facts(env={name: value}), CheckOptions(backend="xpu"))
    assert ("env.invalid-value" not in found) is ok


def test_article_set_is_explained_and_flags_sockets_with_pp() -> None:
    env = {
        "SYCL_CACHE_PERSISTENT": "1",
        "CCL_WORKER_COUNT": "2",
        "FI_PROVIDER": "shm",
        "CCL_ATL_TRANSPORT": "ofi",
        "CCL_ZE_IPC_EXCHANGE": "sockets",
    }
    facts = Facts(env=env, cpu=CpuFacts(online=64, allowed=list(range(8))))
    finding = run(facts, CheckOptions(backend="xpu", pp=2))["env.article-set"]
    text = {e.source: e.text for e in finding.evidence}
    assert len(text) == 5
    assert text["CCL_ZE_IPC_EXCHANGE"].startswith("WRONG HERE: pipeline parallel")
    assert "WRONG HERE" in text["CCL_WORKER_COUNT"] and "WRONG HERE" not in text["CCL_ATL_TRANSPORT"]


def test_secrets_are_not_validated() -> None:
    assert "env.invalid-value" not in run(Facts(env={"VLLM_PORT": "<redacted>"}))


def test_real_h200_host_env_is_clean(shared_dir: Path) -> None:
    import json

    probe = json.loads((shared_dir / "research/gpu/h200x4-probe.json").read_text())
    env = dict(line.split("=", 1) for line in probe["env"].splitlines() if "=" in line)
    found = run(Facts(env=env, dev=nvidia_nodes(4)), CheckOptions(tp=4, backend="cuda"))
    assert not any(c.startswith("env.") for c in found), found.keys()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root for mknod")
def test_collectors_and_rules_agree_on_an_ib_root(tmp_path: Path) -> None:
    from fakeroot import mknod

    root = nvidia_root(tmp_path, shm="size=16g")
    mknod(root, "/dev/infiniband/uverbs0", 231, 192)
    found = run(collect_facts(root, {}, live=False))
    assert "rdma.memlock-too-low" in found
