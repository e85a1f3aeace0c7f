"""The container fault matrix: deployment configs a user writes, each with the causes `tpdoctor
check` run inside the started container must name, no more and no fewer.

Host paths of the fake GPUs: ${FAKE_DRI} stands for the host's /dev/dri (renderD128.., card0..,
by-path/), so `${FAKE_DRI}/renderD128:/dev/dri/renderD128` is the usual `/dev/dri/renderD128`
entry. The harness adds image, tool mounts, fake sysfs and command (an override file for
compose), nothing else. Every scenario runs TP=2 as root unless it says otherwise.

`live` lists what the engine itself must do inside (read from the facts tpdoctor recorded): they
keep the matrix honest about Docker, not only about the rules.
"""

from __future__ import annotations

from typing import Any

from .container_deploy import DeploySource
from .container_harness import Container, LiveExpectation, Scenario

# --------------------------------------------------------------------------- live probes


def _opens(facts: dict[str, Any], node: str) -> Any:
    return facts["probes"]["opens"].get(node)


def open_result(node: str, errno: str) -> LiveExpectation:
    return LiveExpectation(f"open({node}) -> {errno}", lambda f: _opens(f, node), errno)


def pidfd_self_test(ok: bool, errno: str | None = None) -> LiveExpectation:
    what = "pidfd self-test passes" if ok else f"pidfd self-test fails ({errno})"

    def probe(f: dict[str, Any]) -> Any:
        t = f["probes"]["pidfd_self_test"]
        return (t["ok"], None if t["ok"] else t["errno"])

    return LiveExpectation(what, probe, (ok, errno))


def bypath_opendir(result: str) -> LiveExpectation:
    return LiveExpectation(
        f"opendir(/dev/dri/by-path) -> {result}", lambda f: f["probes"]["bypath_opendir"], result
    )


def node_present(node: str, present: bool) -> LiveExpectation:
    return LiveExpectation(
        f"{node} {'present' if present else 'absent'}",
        lambda f: any(n["path"] == node for n in f["dev"]),
        present,
    )


def tmp_writable(ok: bool) -> LiveExpectation:
    return LiveExpectation(f"/tmp writable: {ok}", lambda f: f["probes"]["tmp_writable"], ok)


def tmp_exec(expected: str) -> LiveExpectation:
    """The /tmp mount as /proc/self/mounts shows it: "exec" or "noexec" (Docker mounts a tmpfs noexec unless its
    options say exec; torch.compile loads the shared objects it builds there), "no tmpfs" when /tmp is none."""

    def probe(f: dict[str, Any]) -> Any:
        tmp = [m for m in f["mounts"] if m["target"] == "/tmp" and m["fstype"] == "tmpfs"]
        return "no tmpfs" if not tmp else "noexec" if "noexec" in tmp[-1]["options"] else "exec"

    return LiveExpectation(f"/tmp tmpfs {expected}", probe, expected)


def shm_writable(ok: bool) -> LiveExpectation:
    return LiveExpectation(f"/dev/shm writable: {ok}", lambda f: f["shm"]["writable"], ok)


def shm_mib(mib: int) -> LiveExpectation:
    return LiveExpectation(f"/dev/shm {mib} MiB", lambda f: f["shm"]["size_bytes"] // 2**20, mib)


# --------------------------------------------------------------------------- compose pieces

TWO_RENDER = """\
    devices:
      - ${FAKE_DRI}/renderD128:/dev/dri/renderD128
      - ${FAKE_DRI}/renderD129:/dev/dri/renderD129
"""
BYPATH_RO = """\
    volumes:
      - ${FAKE_DRI}/by-path:/dev/dri/by-path:ro
"""


def compose(body: str) -> str:
    return "services:\n  app:\n" + body


S = frozenset  # expected cause ids
# Docker's default seccomp without CAP_SYS_NICE refuses get_mempolicy/mbind/set_mempolicy (measured on
# this engine, Docker 20.10.24): every default-seccomp scenario below also gets this notice.
NUMA = "seccomp.numa-syscalls-denied"

SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        id="article",
        title="the article's compose: two render nodes in devices:, default seccomp, no SYS_PTRACE",
        compose=compose(TWO_RENDER + "    shm_size: 16g\n"),
        expected=S({NUMA, "oneccl.bypath-missing", "oneccl.pidfd-unsupported"}),
        live=(
            pidfd_self_test(False, "EPERM"),
            bypath_opendir("ENOENT"),
            open_result("/dev/dri/renderD128", "ok"),
        ),
    ),
    Scenario(
        id="article+bypath-ro",
        title="the article's compose plus /dev/dri/by-path mounted read-only (drmfd route)",
        compose=compose(TWO_RENDER + BYPATH_RO + "    shm_size: 16g\n"),
        expected=S({NUMA, "oneccl.pidfd-unsupported"}),
        live=(pidfd_self_test(False, "EPERM"), bypath_opendir("ok")),
    ),
    Scenario(
        id="bypath-one-gpu-not-passed",
        title="host has 3 GPUs, by-path mounted, only renderD128/129 passed",
        gpus=3,
        compose=compose(TWO_RENDER + BYPATH_RO + "    shm_size: 16g\n"),
        expected=S({NUMA, "oneccl.bypath-dangling", "oneccl.pidfd-unsupported"}),
        live=(node_present("/dev/dri/renderD130", False), bypath_opendir("ok")),
    ),
    Scenario(
        id="dri-as-volume",
        title="docker run -v /dev/dri:/dev/dri instead of --device (root)",
        docker_run={"volumes": ["${FAKE_DRI}:/dev/dri"], "shm_size": "16g"},
        driver=False,  # real 226:<minor> numbers: the default device cgroup allows the 1:3 stand-ins
        expected=S({NUMA, "device.cgroup-denied", "oneccl.pidfd-unsupported"}),
        live=(open_result("/dev/dri/renderD128", "EPERM"), bypath_opendir("ok")),
    ),
    Scenario(
        id="dri-as-volume-user-1000",
        title="docker run -v /dev/dri:/dev/dri --user 1000 (no group): DAC answers before the device cgroup",
        docker_run={"volumes": ["${FAKE_DRI}:/dev/dri"], "shm_size": "16g", "user": "1000"},
        driver=False,
        expected=S({NUMA, "device.cgroup-denied", "device.group-denied", "oneccl.pidfd-unsupported"}),
        live=(open_result("/dev/dri/renderD128", "EACCES"),),
    ),
    Scenario(
        id="dri-as-volume-user-1000-group-add",
        title="docker run -v /dev/dri:/dev/dri --user 1000 --group-add 105: now the device cgroup answers",
        docker_run={
            "volumes": ["${FAKE_DRI}:/dev/dri"],
            "shm_size": "16g",
            "user": "1000",
            "group_add": ["105"],
        },
        driver=False,
        expected=S({NUMA, "device.cgroup-denied", "oneccl.pidfd-unsupported"}),
        live=(open_result("/dev/dri/renderD128", "EPERM"),),
    ),
    Scenario(
        id="user-1000-no-group-add",
        title="user: 1000, devices + by-path, no group_add (nodes are 0660 root:105)",
        compose=compose('    user: "1000"\n' + TWO_RENDER + BYPATH_RO + "    shm_size: 16g\n"),
        expected=S({NUMA, "device.group-denied", "oneccl.pidfd-unsupported"}),
        live=(open_result("/dev/dri/renderD128", "EACCES"),),
    ),
    Scenario(
        id="user-1000-group-add-105",
        title='user: 1000 with group_add: ["105"] (the numeric render gid)',
        compose=compose(
            '    user: "1000"\n    group_add: ["105"]\n' + TWO_RENDER + BYPATH_RO + "    shm_size: 16g\n"
        ),
        expected=S({NUMA, "oneccl.pidfd-unsupported"}),
        live=(open_result("/dev/dri/renderD128", "ok"),),
    ),
    Scenario(
        id="group-add-render-by-name",
        title="group_add: [render], a name the image's /etc/group lacks: docker-compose up fails",
        compose=compose(
            '    user: "1000"\n    group_add: [render]\n' + TWO_RENDER + BYPATH_RO + "    shm_size: 16g\n"
        ),
        start_error=r"Unable to find group render",
        expected=S({"device.group-name-unresolved"}),
    ),
    Scenario(
        id="no-gpu-driver",
        title="devices: x2 + cap_add: [SYS_PTRACE] on a host whose kernel has no GPU driver (226:128 nodes)",
        compose=compose("    cap_add: [SYS_PTRACE]\n" + TWO_RENDER + "    shm_size: 16g\n"),
        driver=False,
        expected=S({NUMA, "device.no-driver"}),
        live=(open_result("/dev/dri/renderD128", "ENXIO"),),
    ),
    Scenario(
        id="cap-add-sys-ptrace",
        title="cap_add: [SYS_PTRACE], default seccomp, no by-path (pidfd route)",
        compose=compose("    cap_add: [SYS_PTRACE]\n" + TWO_RENDER + "    shm_size: 16g\n"),
        expected=S({NUMA}),
        live=(pidfd_self_test(True), bypath_opendir("ENOENT")),
    ),
    Scenario(
        id="shm-default-64m",
        title="docker run --device x2 --cap-add SYS_PTRACE, no --shm-size (Docker's 64 MiB /dev/shm)",
        docker_run={
            "devices": [
                "${FAKE_DRI}/renderD128:/dev/dri/renderD128",
                "${FAKE_DRI}/renderD129:/dev/dri/renderD129",
            ],
            "cap_add": ["SYS_PTRACE"],
        },
        expected=S({NUMA, "shm.too-small"}),
        live=(shm_mib(64),),
    ),
    Scenario(
        id="shm-size-16g",
        title="the same with --shm-size 16g",
        docker_run={
            "devices": [
                "${FAKE_DRI}/renderD128:/dev/dri/renderD128",
                "${FAKE_DRI}/renderD129:/dev/dri/renderD129",
            ],
            "cap_add": ["SYS_PTRACE"],
            "shm_size": "16g",
        },
        expected=S({NUMA}),
        live=(shm_mib(16384),),
    ),
    Scenario(
        id="shm-bind-read-only",
        title="a host directory bound read-only over /dev/shm (16g of room, no write): the size is not the problem",
        compose=compose(
            "    cap_add: [SYS_PTRACE]\n"
            + TWO_RENDER
            + "    volumes:\n      - ${FAKE_DRI}/by-path:/dev/shm:ro\n"
        ),
        expected=S({NUMA, "shm.not-writable"}),
        live=(shm_writable(False),),
    ),
    Scenario(
        id="read-only-no-tmpfs",
        title="read_only: true without a tmpfs on /tmp (devices + by-path)",
        compose=compose("    read_only: true\n" + TWO_RENDER + BYPATH_RO + "    shm_size: 16g\n"),
        expected=S({NUMA, "oneccl.tmp-unwritable", "oneccl.pidfd-unsupported"}),
        live=(tmp_writable(False),),
    ),
    Scenario(
        id="read-only-tmpfs-tmp",
        title="read_only: true with tmpfs: [/tmp]",
        compose=compose(
            "    read_only: true\n    tmpfs: [/tmp]\n" + TWO_RENDER + BYPATH_RO + "    shm_size: 16g\n"
        ),
        expected=S({NUMA, "oneccl.pidfd-unsupported"}),
        live=(tmp_writable(True), tmp_exec("noexec")),  # Docker's default for a tmpfs
    ),
    Scenario(
        id="privileged",
        title="privileged: true with the two render nodes",
        compose=compose("    privileged: true\n" + TWO_RENDER + "    shm_size: 16g\n"),
        expected=S({"security.privileged"}),
        live=(pidfd_self_test(True),),
    ),
    Scenario(
        id="two-containers-one-rank-each",
        title="rank0 and rank1 in two services, one GPU each (check --compare of both snapshots)",
        compose="services:\n"
        + "".join(
            f"  rank{i}:\n    devices:\n      - ${{FAKE_DRI}}/renderD{128 + i}:/dev/dri/renderD{128 + i}\n"
            + "    cap_add: [SYS_PTRACE]\n    shm_size: 16g\n"
            for i in range(2)
        ),
        containers=(Container("rank0", tp=2), Container("rank1", tp=2)),
        compare=True,
        expected=S({"topology.ranks-split-across-containers"}),
    ),
    Scenario(
        id="one-container-two-ranks",
        title="control: two ranks' snapshots from one container (check --compare must stay silent)",
        compose=compose("    cap_add: [SYS_PTRACE]\n" + TWO_RENDER + "    shm_size: 16g\n"),
        containers=(Container("app", tp=2, ranks=2),),
        compare=True,
        expected=S(),
    ),
)


# --------------------------------------------------------------------------- files tpdoctor wrote
# Issue 6 item 4: every Intel (xpu) config of ../shared/corpus/configs after `audit --fix`
# with the fake host's facts, and `generate` output, started for real: `check` inside must
# report no blocker (ScenarioResult.ok also requires that). The corpus has no Intel Kubernetes
# config (its one Kubernetes file is NVIDIA); Kubernetes objects cannot start on this engine.


def _fixed(corpus_id: str, tp: int, title: str, expected: frozenset[str]) -> Scenario:
    return Scenario(
        id=f"fixed:{corpus_id}",
        title=title,
        source=DeploySource(
            "audit-fix",
            "compose" if corpus_id.endswith("-compose") else "docker-run",
            tp=tp,
            corpus_id=corpus_id,
        ),
        expected=expected,
        live=DRMFD_LIVE,
    )


# the drmfd route audit --fix chooses by default: by-path :ro, cap_drop ALL, no SYS_PTRACE, and
# CCL_ZE_IPC_EXCHANGE=drmfd pinned (so `check` inside gives the notice env.article-set: one of
# the article's variables, explained, not wrong)
DRMFD_LIVE = (
    open_result("/dev/dri/renderD128", "ok"),
    bypath_opendir("ok"),
    pidfd_self_test(False, "EPERM"),
)
GENERATE_XPU = ("--image", "ipex-llm-serving-xpu", "--tp", "2")
# generate writes /tmp:exec (torch.compile's cache: tests/containers/test_container_tmp_exec.py)
GENERATED_LIVE = (*DRMFD_LIVE, tmp_exec("exec"))

WRITTEN_BY_TPDOCTOR: tuple[Scenario, ...] = (
    _fixed(
        "ipex-llm-fastchat-docker-run-broken-continuation",
        2,
        "ipex-llm quickstart `docker run` with a broken continuation, after `audit --fix` (TP 2)",
        S({NUMA, "env.article-set", "oneccl.pidfd-unsupported"}),
    ),
    _fixed(
        "ipex-llm-vllm-quickstart-group-video",
        2,
        "ipex-llm vLLM quickstart `docker run --group-add video --device=/dev/dri`, after `audit --fix` (TP 2)",
        S({NUMA, "env.article-set", "oneccl.pidfd-unsupported"}),
    ),
    _fixed(
        "ollama-intel-gpu-compose",
        1,
        "ollama-intel-gpu compose (devices: /dev/dri, one GPU selected, web UI service), after `audit --fix` (TP 1)",
        S({NUMA, "env.article-set"}),
    ),
    _fixed(
        "vllm-docs-xpu-docker-run-bypath",
        2,
        "vLLM XPU docs `docker run --device /dev/dri -v by-path` (no --shm-size), after `audit --fix` (TP 2)",
        S({NUMA, "oneccl.pidfd-unsupported"}),  # by-path already mounted: no route pinned
    ),
    Scenario(
        id="generate:ipex-llm-serving-xpu:compose",
        title="`generate --image ipex-llm-serving-xpu --tp 2 --target compose`",
        source=DeploySource("generate", "compose", tp=2, generate_args=GENERATE_XPU),
        # notice: the output sets the article's variables (with drmfd for the exchange)
        expected=S({NUMA, "env.article-set", "oneccl.pidfd-unsupported"}),
        live=GENERATED_LIVE,
    ),
    Scenario(
        id="generate:ipex-llm-serving-xpu:docker-run",
        title="`generate --image ipex-llm-serving-xpu --tp 2 --target docker-run`",
        source=DeploySource("generate", "docker-run", tp=2, generate_args=GENERATE_XPU),
        # notice: the output sets the article's variables (with drmfd for the exchange)
        expected=S({NUMA, "env.article-set", "oneccl.pidfd-unsupported"}),
        live=GENERATED_LIVE,
    ),
)

# Issue 18: Intel's current images (deploy/images.py). The entrypoint that sources oneAPI and
# execs `vllm serve` is replaced by `check` here like every command; the devices, by-path mount,
# group, cap_drop, no-new-privileges, shm and /tmp are started as written.
INTEL_STACK: tuple[Scenario, ...] = tuple(
    Scenario(
        id=f"generate:{image}:{target}",
        title=f"`generate --image {image} --tp 2 --target {target}`",
        source=DeploySource("generate", target, tp=2, generate_args=("--image", image, "--tp", "2")),  # type: ignore[arg-type]
        # notice: CCL_ZE_IPC_EXCHANGE=drmfd is one of the article's variables (explained, not wrong)
        expected=S({NUMA, "env.article-set", "oneccl.pidfd-unsupported"}),
        live=GENERATED_LIVE,
    )
    for image in ("llm-scaler-vllm", "vllm-xpu")
    for target in ("compose", "docker-run")
)

SCENARIOS = SCENARIOS + WRITTEN_BY_TPDOCTOR + INTEL_STACK
