"""generate holds no IPC-route policy: the route, its grant and its pin come from the edits of
the rule oneccl.bypath-missing (as `audit --fix` writes them), and the rules' notices become
the generated file's NOTE lines."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from deploy_helpers import two_gpu_facts
from tpdoctor.deploy.audit import load
from tpdoctor.deploy.fix import fix_loaded
from tpdoctor.deploy.generate import Intent, generate

DEPLOY = Path(__file__).resolve().parents[1] / "src" / "tpdoctor" / "deploy"


def test_no_deploy_module_names_the_route_variable() -> None:
    # the variable (and so the route choice) is written only by the rule's SetEnv
    for p in DEPLOY.glob("*.py"):
        assert not re.search(r"""["']CCL_ZE_IPC_EXCHANGE""", p.read_text()), p.name


@pytest.mark.parametrize(("route", "grant"), [("drmfd", "by-path"), ("pidfd", "SYS_PTRACE")])
def test_compose_route_and_its_grant_as_the_fix_writes_them(route: str, grant: str) -> None:
    text = generate(Intent(tp=2, target="compose", ipc_exchange=route))
    svc = YAML(typ="safe").load(text)["services"]["llm"]
    assert svc["environment"]["CCL_ZE_IPC_EXCHANGE"] == route
    assert (grant == "SYS_PTRACE") == ("SYS_PTRACE" in svc.get("cap_add", []))
    assert (grant == "by-path") == any("by-path" in v for v in svc.get("volumes", []))
    assert f"#   - CCL_ZE_IPC_EXCHANGE={route}: the route the fix prepares" in text


def test_generated_equals_the_fix_of_its_own_workload(tmp_path: Path) -> None:
    # the grants are exactly what `audit --fix` adds: fixing the generated file changes nothing
    for target, name in (("compose", "c.yaml"), ("docker-run", "r.sh"), ("kubernetes", "k.yaml")):
        p = tmp_path / name
        p.write_text(generate(Intent(tp=2, target=target, ipc_exchange="pidfd")))  # type: ignore[arg-type]
        assert fix_loaded(load(p), None, "pidfd").text == p.read_text(), target


def test_baseline_refuses_pidfd_in_the_rule_and_says_so() -> None:
    it = Intent(tp=2, target="kubernetes", pss="baseline", ipc_exchange="pidfd")
    text = generate(it)
    docs = [d for d in YAML(typ="safe").load_all(text) if d]
    c = docs[-1]["spec"]["template"]["spec"]["containers"][0]
    assert {"name": "CCL_ZE_IPC_EXCHANGE", "value": "drmfd"} in c["env"]
    assert "SYS_PTRACE" not in str(c.get("securityContext"))
    assert any("Pod Security baseline forbids SYS_PTRACE" in n for n in it.notes)
    assert "# NOTE: --ipc-exchange pidfd: Pod Security baseline forbids SYS_PTRACE" in text
    assert "# NOTE: Deployment/llm/llm: by-path comes from the GPU plugin" in text


def test_selinux_advice_comes_from_the_rule() -> None:
    text = generate(Intent(tp=2, target="compose", facts=two_gpu_facts(selinux=True)))
    assert re.search(
        r"^# NOTE: The host enforces SELinux: llm needs `setsebool -P container_use_devices 1`", text, re.M
    )
    assert "label" not in text.split("services:")[1]


def test_podman_group_comes_from_the_rule(tmp_path: Path) -> None:
    # a podman script fixed by `audit --fix` gets the same keep-groups as `generate --target podman`
    p = tmp_path / "run.sh"
    p.write_text(
        "podman run --device /dev/dri/renderD128 --device /dev/dri/renderD129 intel/vllm:0.17.0-xpu -tp 2\n"
    )
    fixed = fix_loaded(load(p), None).text
    assert "--group-add keep-groups" in fixed and "RENDER_GID" not in fixed
    gen = generate(Intent(tp=2, target="podman"))
    assert "--group-add keep-groups" in gen and "export RENDER_GID" not in gen


@pytest.mark.parametrize(
    ("image", "gids"), [("ipex-llm-serving-xpu", ["RENDER_GID"]), ("vllm-rocm", ["RENDER_GID", "VIDEO_GID"])]
)
def test_shell_exports_exactly_the_placeholders_the_fix_wrote(
    tmp_path: Path, image: str, gids: list[str]
) -> None:
    import subprocess

    text = generate(Intent(image=image, tp=2, target="docker-run"))
    assert re.findall(r"^export (\w+)=", text, re.M) == gids
    for g in gids:
        assert f'"${{{g}:?' in text
    p = tmp_path / "run.sh"
    p.write_text(text)
    assert subprocess.run(["bash", "-n", str(p)], capture_output=True).returncode == 0
    # with host facts the GID is exact: nothing to export
    assert "export " not in generate(Intent(image=image, tp=2, target="docker-run", facts=two_gpu_facts()))
