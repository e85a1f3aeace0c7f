"""The real-oneCCL scenarios: a configuration, what the real library must do in it, and the cause
`check` must predict (and `explain` name first on the real output), or None when it works.

Every compose file is written as a user would write it (host paths /dev/dri/...); the harness maps
the host sides to the fake host and drops image, command, ports and names (container_deploy.py's
adaptation, the same for files tpdoctor wrote). All scenarios run TP=2: two ranks in one container.
"""

from __future__ import annotations

import json
from typing import Any

from ruamel.yaml import YAML

from .harness import DATA, RealScenario

ARTICLE = (DATA / "article-compose.yaml").read_text()
SERVICE = "ipex-llm-serving"

OPENDIR = r"init_device_fds: EXCEPTION: opendir failed: could not open device directory"
OK = r"communicator created OK"
OPEN_FAILED = r"fill_device_fds: EXCEPTION: open failed: fd: -1, errno: "
PIDFD_FALLBACK = r"pidfd is not supported, fallbacks to drmfd exchange mode"
BYPATH_RO = "/dev/dri/by-path:/dev/dri/by-path:ro"
PRIVILEGED_OK = frozenset({"security.privileged"})


def article(env: dict[str, str | None] | None = None, **service: Any) -> str:
    """The article's compose with these service keys set (None removes one) and env changes."""
    doc = YAML(typ="safe").load(ARTICLE)
    svc = doc["services"][SERVICE]
    for k, v in service.items():
        if v is None:
            svc.pop(k, None)
        else:
            svc[k] = v
    for k, ev in (env or {}).items():
        if ev is None:
            svc["environment"].pop(k, None)
        else:
            svc["environment"][k] = ev
    return json.dumps(doc, indent=1)  # JSON is YAML


def with_volume(vol: str, **service: Any) -> str:
    return article(volumes=["./models:/llm/models", vol], **service)


SCENARIOS: tuple[RealScenario, ...] = (
    RealScenario(
        "article",
        "the article's compose as written",
        real=OPENDIR,
        cause="oneccl.bypath-missing",
        compose=ARTICLE,
    ),
    RealScenario(
        "article-no-atl-shm",
        "the article's five variables alone: FI_PROVIDER=shm without the start script's CCL_ATL_SHM=1",
        real=r"init_transport: EXCEPTION: failed to initialize ATL",
        also=r"shm provider is requested through FI_PROVIDER but not requested from CCL level",
        cause="oneccl.shm-provider-not-enabled",
        compose=article(env={"CCL_ATL_SHM": None}),
        all_versions=False,
    ),
    RealScenario(
        "atl-shm-64m",
        "the article's compose (FI_PROVIDER=shm, CCL_ATL_SHM=1) without shm_size: Docker's 64 MiB /dev/shm",
        # libfabric's shm provider refuses fi_getinfo when /dev/shm has less free space than
        # cores x its region size (ofiwg/libfabric prov/shm/src/smr_init.c smr_shm_space_check,
        # -FI_ENOSPC, v1.15-v1.22); oneCCL then finds no provider named shm
        real=r"init_transport: EXCEPTION: failed to initialize ATL",
        also=r"can't create providers for name shm",
        cause="shm.too-small",
        compose=article(shm_size=None),
        all_versions=False,
    ),
    RealScenario(
        "atl-shm-64m-fi-log",
        "atl-shm-64m with FI_LOG_LEVEL=warn and CCL_LOG_LEVEL=info: libfabric says why shm was refused",
        real=r"init_transport: EXCEPTION: failed to initialize ATL",
        also=r"smr_shm_space_check\(\):\d+<warn> Not enough available space in /dev/shm",
        cause="shm.too-small",
        compose=article(shm_size=None, env={"FI_LOG_LEVEL": "warn", "CCL_LOG_LEVEL": "info"}),
        all_versions=False,
    ),
    RealScenario(
        "article-audit-fix",
        "the article's compose after `audit --fix` (written with --host-facts)",
        real=OK,
        cause=None,
        source="audit-fix",
        compose_for_fix=ARTICLE,
    ),
    RealScenario(
        "generate-compose",
        "`generate --image ipex-llm-serving-xpu --tp 2 --target compose`",
        real=OK,
        cause=None,
        source="generate-compose",
    ),
    RealScenario(
        "generate-docker-run",
        "`generate --image ipex-llm-serving-xpu --tp 2 --target docker-run`",
        real=OK,
        cause=None,
        source="generate-docker-run",
        all_versions=False,
    ),
    RealScenario(
        "run-no-driver",
        "`tpdoctor run` in the article's container; nodes 226:N allowed by devices:, no driver (ENXIO)",
        real=OPEN_FAILED + "No such device or address",
        cause="device.no-driver",
        compose=ARTICLE,
        driver=False,
        mode="run",
        run_cause="device.no-driver",
    ),
    RealScenario(
        "run-cgroup",
        "`tpdoctor run`; /dev/dri bind-mounted as a volume, not devices: (device cgroup: EPERM)",
        real=OPEN_FAILED + "Operation not permitted",
        cause="device.cgroup-denied",
        compose=with_volume("/dev/dri:/dev/dri", devices=None),
        driver=False,
        mode="run",
        run_cause="device.cgroup-denied",
        all_versions=False,
    ),
    RealScenario(
        "run-group",
        "`tpdoctor run` as user 1000 without the render group (EACCES)",
        real=OPEN_FAILED + "Permission denied",
        cause="device.group-denied",
        compose=article(user="1000"),
        driver=False,  # 226:N: run links only DRM nodes; DAC answers EACCES before the driver
        mode="run",
        run_cause="device.group-denied",
        all_versions=False,
    ),
    RealScenario(
        "cap-sys-ptrace",
        "the article's compose + cap_add: [SYS_PTRACE] (pidfd route)",
        real=OK,
        cause=None,
        compose=article(cap_add=["SYS_PTRACE"]),
    ),
    RealScenario(
        "privileged",
        "the article's quick fix: privileged: true (pidfd route)",
        real=OK,
        cause=None,
        compose=article(privileged=True),
        allowed_blockers=PRIVILEGED_OK,
        # the article's env asks for sockets: honoured, because privileged makes the self-test pass
        check_says=r"oneCCL will use sockets \(CCL_ZE_IPC_EXCHANGE\): honoured only because privileged",
    ),
    RealScenario(
        "privileged-pidfd",
        "privileged: true with the render nodes and no CCL_ZE_IPC_EXCHANGE (pidfd route)",
        real=OK,
        cause=None,
        compose=article(
            env={k: None for k in ("CCL_ZE_IPC_EXCHANGE", "FI_PROVIDER", "CCL_ATL_SHM")}, privileged=True
        ),
        allowed_blockers=PRIVILEGED_OK,
        check_says=r"oneCCL will use pidfd: its self-test passes only because privileged",
        all_versions=False,
    ),
    RealScenario(
        "sockets-only",
        "devices: + CCL_ZE_IPC_EXCHANGE=sockets only (default seccomp)",
        real=OPENDIR,
        cause="oneccl.bypath-missing",
        compose=article(
            env={k: None for k in ("SYCL_CACHE_PERSISTENT", "CCL_WORKER_COUNT", "FI_PROVIDER", "CCL_ATL_SHM")}
        ),
    ),
    RealScenario(
        "privileged-drmfd",
        "privileged: true + CCL_ZE_IPC_EXCHANGE=drmfd",
        real=OPENDIR,
        cause="oneccl.bypath-missing",
        compose=article(env={"CCL_ZE_IPC_EXCHANGE": "drmfd"}, privileged=True),
        allowed_blockers=PRIVILEGED_OK,
        check_says=r"oneCCL will use drmfd \(CCL_ZE_IPC_EXCHANGE\): privileged does not help",
        all_versions=False,
    ),
    RealScenario(
        "bypath-ro",
        "the article's compose + /dev/dri/by-path mounted read-only (drmfd route)",
        real=OK,
        cause=None,
        compose=with_volume(BYPATH_RO),
    ),
    RealScenario(
        "readonly-tmp",
        "read_only: true without a /tmp tmpfs, SYS_PTRACE, by-path mounted (self-test mkstemp fails)",
        # rank 0 cannot bind its fd-exchange socket; rank 1 waits for it until killed
        real=r"exchange_device_fds: EXCEPTION: bind failed: .*Read-only file system",
        also=PIDFD_FALLBACK,  # although SYS_PTRACE is there: the self-test's mkstemp fails
        cause="oneccl.tmp-unwritable",
        compose=with_volume(BYPATH_RO, read_only=True, cap_add=["SYS_PTRACE"]),
        harness_env=(("REPRO_TMP", "/dev/shm"),),
        all_versions=False,
    ),
    RealScenario(
        "bypath-gpu-missing",
        "host with 3 GPUs, by-path mounted, only renderD128/129 passed",
        real=OPEN_FAILED + "No such file or directory",
        cause="oneccl.bypath-dangling",
        compose=with_volume(BYPATH_RO),
        gpus=3,
        all_versions=False,
    ),
)
