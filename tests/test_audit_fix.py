"""audit on the article's compose, --fix/--write, round trips, exceptions, hostile input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from conftest import run_cli
from deploy_helpers import DATA, two_gpu_facts
from tpdoctor.deploy.audit import audit_model, load
from tpdoctor.deploy.fix import fix_loaded

ARTICLE = DATA / "deploy" / "article-compose.yaml"


@pytest.fixture
def article(tmp_path: Path) -> Path:
    p = tmp_path / "compose.yaml"
    shutil.copy(ARTICLE, p)
    return p


def test_article_reports_privileged_and_bypath(article: Path) -> None:
    causes = {f.cause for f in audit_model(load(article).model).findings}
    assert {"security.privileged", "oneccl.bypath-missing", "shm.too-small"} <= causes


def test_article_fix_with_host_facts(article: Path) -> None:
    res = fix_loaded(load(article), two_gpu_facts(render_gid=992))
    svc = YAML(typ="safe").load(res.text)["services"]["ipex-llm-serving"]
    assert "privileged" not in svc
    assert svc["devices"] == ["/dev/dri/renderD128", "/dev/dri/renderD129"]
    assert "/dev/dri/by-path:/dev/dri/by-path:ro" in svc["volumes"]
    assert svc["group_add"] == ["992"]
    assert svc["shm_size"] == "16g"
    assert svc["cap_drop"] == ["ALL"] and "no-new-privileges:true" in svc["security_opt"]
    # the user's comments, order and quoting survive
    assert "./models:/llm/models   # model weights" in res.text
    assert 'TENSOR_PARALLEL_SIZE: "2"' in res.text
    assert res.text.index("image:") < res.text.index("devices:") < res.text.index("environment:")


def test_pidfd_route_adds_sys_ptrace_not_bypath(article: Path) -> None:
    res = fix_loaded(load(article), None, ipc_exchange="pidfd")
    svc = YAML(typ="safe").load(res.text)["services"]["ipex-llm-serving"]
    assert svc["cap_add"] == ["SYS_PTRACE"]
    assert not any("by-path" in v for v in svc["volumes"])
    assert "seccomp" not in json.dumps(svc.get("security_opt"))


def test_fix_prints_diff_and_changes_nothing(article: Path) -> None:
    before = article.read_bytes()
    r = run_cli("audit", "--fix", str(article))
    assert r.returncode == 0, r.stderr
    assert (
        "-    privileged: true" in r.stdout and '+      - "/dev/dri/by-path:/dev/dri/by-path:ro"' in r.stdout
    )
    assert article.read_bytes() == before


def test_write_is_atomic_with_backup_and_idempotent(article: Path) -> None:
    original = article.read_text()
    r = run_cli("audit", "--write", str(article))
    assert r.returncode == 0, r.stderr + r.stdout
    backup = article.with_name(article.name + ".tpdoctor.bak")
    assert backup.read_text() == original
    once = article.read_text()
    assert once != original
    r2 = run_cli("audit", "--write", str(article))
    assert r2.returncode == 0 and "nothing to change" in r2.stderr
    assert article.read_text() == once
    assert not [p for p in article.parent.iterdir() if p.name.endswith(".tmp")]


def test_exit_codes_and_formats(article: Path) -> None:
    r = run_cli("audit", str(article), "--format", "json")
    assert r.returncode == 3
    data = json.loads(r.stdout)
    assert data["command"] == "audit" and data["exit_code"] == 3
    s = json.loads(run_cli("audit", str(article), "--format", "sarif").stdout)
    assert "security.privileged" in {x["ruleId"] for x in s["runs"][0]["results"]}
    assert run_cli("audit", str(article.parent / "missing.yaml")).returncode == 2


def test_allow_comment_with_reason_suppresses_only_that_service(tmp_path: Path) -> None:
    p = tmp_path / "c.yaml"
    p.write_text(
        "services:\n"
        "  a:\n"
        "    image: intelanalytics/ipex-llm-serving-xpu:latest\n"
        "    # tpdoctor: allow security.privileged reason=lab box, GPU reset tests need it\n"
        "    privileged: true\n"
        "  b:\n"
        "    image: intelanalytics/ipex-llm-serving-xpu:latest\n"
        "    privileged: true  # tpdoctor: allow security.privileged\n"
    )
    res = audit_model(load(p).model)
    priv = [f for f in res.findings if f.cause == "security.privileged"]
    assert len(priv) == 1 and priv[0].evidence[0].text.startswith("b:")
    assert any("lab box" in a for a in res.allowed)
    assert "audit.allow-without-reason" in {f.cause for f in res.findings}
    fixed = YAML(typ="safe").load(fix_loaded(load(p), None).text)["services"]
    assert fixed["a"]["privileged"] is True and "privileged" not in fixed["b"]


def test_kubernetes_annotation_allow(tmp_path: Path) -> None:
    p = tmp_path / "pod.yaml"
    p.write_text(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  annotations:\n"
        '    tpdoctor.io/allow: "security.privileged reason=node debugging"\n'
        "spec:\n  containers:\n    - name: c\n      image: intelanalytics/ipex-llm-serving-xpu\n"
        "      securityContext: {privileged: true}\n"
    )
    assert "security.privileged" not in {f.cause for f in audit_model(load(p).model).findings}


def test_host_facts_resolve_group_and_absent_nodes(tmp_path: Path) -> None:
    p = tmp_path / "c.yaml"
    p.write_text(
        "services:\n  s:\n    image: intelanalytics/ipex-llm-serving-xpu\n"
        "    devices: [/dev/dri/renderD128, /dev/dri/renderD130]\n"
        "    volumes: ['/dev/dri/by-path:/dev/dri/by-path:ro']\n"
        "    group_add: ['44']\n    user: '1000'\n    shm_size: 16g\n"
    )
    facts_path = tmp_path / "facts.json"
    facts_path.write_text(two_gpu_facts(render_gid=992, selinux=True).model_dump_json())
    r = run_cli("audit", str(p), "--host-facts", str(facts_path), "--format", "json")
    causes = {f["cause"] for f in json.loads(r.stdout)["findings"]}
    assert {"device.host-node-absent", "device.group-denied", "lsm.selinux-device-denied"} <= causes
    assert r.returncode == 3


def test_docker_run_fix_repairs_broken_continuation(tmp_path: Path) -> None:
    p = tmp_path / "run.sh"
    p.write_text(
        "docker run -d \\\n  --privileged \\\n  # map models\n  -v /m:/llm/models \\ \n"
        "  --ipc=host \\\n  intelanalytics/ipex-llm-serving-xpu:latest\n"
    )
    res = fix_loaded(load(p), two_gpu_facts())
    assert "--privileged" not in res.text and "--ipc" not in res.text
    assert "--device /dev/dri/renderD128" in res.text and "--shm-size 16g" in res.text
    # the comment moves above the command, the blank after the backslash goes, nothing else moves
    assert res.text.startswith("# map models\ndocker run -d \\\n") and "  -v /m:/llm/models \\\n" in res.text
    p.write_text(res.text)
    again = load(p)
    assert not again.handle[0].breaks
    assert fix_loaded(again, two_gpu_facts()).text == res.text


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (b"services:\n  a: [unclosed\n", "invalid YAML"),
        (b"services:\n  a:\n    image: \xff\xfe\n", "not UTF-8"),
        (
            b"a: &a [x, x, x, x, x, x, x, x, x, x]\n"
            + b"".join(
                f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]\n".encode()
                for i in range(8)
            )
            + b"services: {s: {image: x, command: *i}}\n",
            "expands to more than",
        ),
    ],
)
def test_hostile_input_is_a_usage_error_and_untouched(tmp_path: Path, content: bytes, needle: str) -> None:
    p = tmp_path / "c.yaml"
    p.write_bytes(content)
    r = run_cli("audit", "--write", str(p))
    assert r.returncode == 2, r.stderr
    assert needle in r.stderr and "Traceback" not in r.stderr
    assert p.read_bytes() == content
    assert not (tmp_path / "c.yaml.tpdoctor.bak").exists()


def test_huge_file_is_refused(tmp_path: Path) -> None:
    p = tmp_path / "big.yaml"
    p.write_bytes(b"# " + b"x" * (9 * 1024 * 1024) + b"\nservices: {}\n")
    r = run_cli("audit", str(p))
    assert r.returncode == 2 and "limit" in r.stderr
