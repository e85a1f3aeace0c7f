"""explain --config: the diagnosed causes' fixes as a patch of the user's own config file."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from conftest import run_cli
from deploy_helpers import DATA

ARTICLE_LINE = (
    "RuntimeError: oneCCL: ze_fd_manager.cpp:144 init_device_fds: EXCEPTION: opendir failed: "
    "could not open device directory"
)
SHM_LINE = "gpu-node-7:4242:4301 [1] NCCL WARN Error: failed to extend /dev/shm/nccl-4Xh2Gq to 9637892 bytes"
EACCES_LINE = "open failed: fd: -1, errno: Permission denied"
P2P_LINE = "gpu-node-7:4242:4301 [0] transport/shm.cc:590 NCCL WARN Cuda failure 217 'peer access is not supported between these two devices'"

TWO_RENDER = """\
services:
  vllm:
    image: intelanalytics/ipex-llm-serving-xpu:latest   # keep this comment
    devices:
      - /dev/dri/renderD128
      - /dev/dri/renderD129
    group_add:
      - "993"
    shm_size: 16g
    environment:
      TENSOR_PARALLEL_SIZE: "2"
"""

DOCKER_RUN = """\
#!/bin/sh
docker run -d --name vllm \\
  --device /dev/dri/renderD128 --device /dev/dri/renderD129 \\
  --group-add 993 \\
  -v /models:/llm/models \\
  intelanalytics/ipex-llm-serving-xpu:latest
"""

K8S = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: vllm
spec:
  selector:
    matchLabels: {app: vllm}
  template:
    metadata:
      labels: {app: vllm}
    spec:
      containers:
        - name: vllm
          image: intelanalytics/ipex-llm-serving-xpu:latest
          args: ["--tensor-parallel-size", "2"]
          resources:
            limits:
              gpu.intel.com/i915: 2
"""


def _files(tmp_path: Path, log: str, config: str, name: str = "compose.yaml") -> tuple[Path, Path]:
    lp = tmp_path / "vllm.log"
    lp.write_text(log + "\n")
    cp = tmp_path / name
    cp.write_text(config)
    return lp, cp


def _added(diff: str) -> list[str]:
    return [x[1:].strip() for x in diff.splitlines() if x.startswith("+") and not x.startswith("+++")]


def _removed(diff: str) -> list[str]:
    return [x[1:].strip() for x in diff.splitlines() if x.startswith("-") and not x.startswith("---")]


def test_article_line_and_two_render_compose_get_only_the_bypath_mount(tmp_path: Path) -> None:
    lp, cp = _files(tmp_path, ARTICLE_LINE, TWO_RENDER)
    r = run_cli("explain", str(lp), "--config", str(cp))
    assert r.returncode == 3, r.stderr
    assert r.stdout.index("oneccl.bypath-missing") < r.stdout.index(f"--- {cp}")  # causes, then the patch
    diff = r.stdout[r.stdout.index(f"--- {cp}") :]
    # the by-path mount, and the route pinned (oneCCL's default differs by version)
    assert _added(diff) == [
        "volumes:",
        '- "/dev/dri/by-path:/dev/dri/by-path:ro"',
        "CCL_ZE_IPC_EXCHANGE: drmfd",
    ]
    assert _removed(diff) == []  # no unrelated hardening (cap_drop, no-new-privileges)
    assert cp.read_text() == TWO_RENDER  # nothing written without --write


def test_pidfd_route_adds_sys_ptrace_instead(tmp_path: Path) -> None:
    lp, cp = _files(tmp_path, ARTICLE_LINE, TWO_RENDER)
    r = run_cli("explain", str(lp), "--config", str(cp), "--ipc-exchange", "pidfd", "-f", "json")
    out = json.loads(r.stdout)["config"]
    assert _added(out["diff"]) == ["cap_add:", "- SYS_PTRACE", "CCL_ZE_IPC_EXCHANGE: pidfd"]
    assert out["fixes"] == ["oneccl.bypath-missing"]


def test_article_privileged_compose_is_replaced_by_least_privilege(tmp_path: Path) -> None:
    lp = tmp_path / "vllm.log"
    lp.write_text(ARTICLE_LINE + "\n")
    cp = tmp_path / "compose.yaml"
    shutil.copy(DATA / "deploy" / "article-compose.yaml", cp)
    r = run_cli("explain", str(lp), "--config", str(cp), "-f", "json")
    out = json.loads(r.stdout)["config"]
    assert any(x.startswith("privileged: true") for x in _removed(out["diff"]))
    added = _added(out["diff"])
    assert '- "/dev/dri/by-path:/dev/dri/by-path:ro"' in added
    assert "- /dev/dri/renderD128" in added and "- /dev/dri/renderD129" in added


def test_shm_cause_sets_shm_size_only(tmp_path: Path) -> None:
    config = TWO_RENDER.replace("    shm_size: 16g\n", "")
    lp, cp = _files(tmp_path, SHM_LINE, config)
    out = json.loads(run_cli("explain", str(lp), "--config", str(cp), "-f", "json").stdout)["config"]
    assert _added(out["diff"]) == ["shm_size: 16g"]


def test_group_denied_replaces_a_group_name_by_a_numeric_gid(tmp_path: Path) -> None:
    config = TWO_RENDER.replace('      - "993"', "      - render")
    lp, cp = _files(tmp_path, EACCES_LINE, config)
    out = json.loads(run_cli("explain", str(lp), "--config", str(cp), "-f", "json").stdout)["config"]
    assert _removed(out["diff"]) == ["- render"]
    assert len(_added(out["diff"])) == 1 and "RENDER_GID" in _added(out["diff"])[0]


def test_docker_run_file_gets_the_bypath_volume(tmp_path: Path) -> None:
    lp, cp = _files(tmp_path, ARTICLE_LINE, DOCKER_RUN, "run.sh")
    out = json.loads(run_cli("explain", str(lp), "--config", str(cp), "-f", "json").stdout)["config"]
    assert out["format"] == "docker"
    added = " ".join(_added(out["diff"]))
    assert "/dev/dri/by-path:/dev/dri/by-path:ro" in added
    assert "cap-drop" not in added and "no-new-privileges" not in added


def test_kubernetes_manifest_gets_the_drmfd_route(tmp_path: Path) -> None:
    lp, cp = _files(tmp_path, ARTICLE_LINE, K8S, "deploy.yaml")
    out = json.loads(run_cli("explain", str(lp), "--config", str(cp), "-f", "json").stdout)["config"]
    assert out["format"] == "kubernetes"
    added = _added(out["diff"])
    assert "- name: CCL_ZE_IPC_EXCHANGE" in added and "value: drmfd" in added
    assert not any("allowPrivilegeEscalation" in a or "drop" in a for a in added)


def test_write_is_atomic_with_backup_and_idempotent(tmp_path: Path) -> None:
    lp, cp = _files(tmp_path, ARTICLE_LINE, TWO_RENDER)
    r = run_cli("explain", str(lp), "--config", str(cp), "--write")
    assert r.returncode == 3 and "wrote" in r.stderr
    assert (tmp_path / "compose.yaml.tpdoctor.bak").read_text() == TWO_RENDER
    svc = YAML(typ="safe").load(cp.read_text())["services"]["vllm"]
    assert svc["volumes"] == ["/dev/dri/by-path:/dev/dri/by-path:ro"]
    assert "# keep this comment" in cp.read_text()
    after = cp.read_text()
    r2 = run_cli("explain", str(lp), "--config", str(cp), "--write")
    assert "nothing to change" in r2.stderr and cp.read_text() == after


def test_causes_the_config_cannot_fix_give_no_patch(tmp_path: Path) -> None:
    lp, cp = _files(tmp_path, P2P_LINE, TWO_RENDER)
    data = json.loads(run_cli("explain", str(lp), "--config", str(cp), "-f", "json").stdout)
    assert data["config"]["diff"] == "" and data["config"]["fixes"] == []
    assert any("none of the diagnosed causes" in n for n in data["notes"])


@pytest.mark.parametrize(
    "config",
    ["services:\n  a:\n   image: x\n    bad: [\n", "#!/bin/sh\necho no run command here\n"],
    ids=["invalid-yaml", "script-without-run"],
)
def test_bad_config_is_a_one_line_usage_error(tmp_path: Path, config: str) -> None:
    lp, cp = _files(tmp_path, ARTICLE_LINE, config, "compose.yaml" if "services" in config else "run.sh")
    r = run_cli("explain", str(lp), "--config", str(cp))
    assert r.returncode == 2
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr


def test_missing_config_and_write_without_config(tmp_path: Path) -> None:
    lp, _cp = _files(tmp_path, ARTICLE_LINE, TWO_RENDER)
    r = run_cli("explain", str(lp), "--config", str(tmp_path / "nope.yaml"))
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1
    assert run_cli("explain", str(lp), "--write").returncode == 2
