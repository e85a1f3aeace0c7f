"""`.pre-commit-hooks.yaml`: valid for pre-commit, and its hooks select and judge files as
pre-commit would run them (identify's tags, the `files` pattern, filenames appended to `entry`)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from identify.identify import tags_from_path
from pre_commit.clientlib import load_manifest

from conftest import run_cli

REPO = Path(__file__).resolve().parent.parent
COMPOSE_PRIV = "services:\n  s:\n    image: intel/vllm:0.17.0-xpu\n    privileged: true\n"


def _hooks() -> dict[str, dict[str, object]]:
    return {h["id"]: h for h in load_manifest(str(REPO / ".pre-commit-hooks.yaml"))}


def _selected(hook: dict[str, object], paths: list[Path], root: Path) -> list[Path]:
    out = []
    for p in paths:
        rel = str(p.relative_to(root))
        types_or = set(hook.get("types_or") or [])  # type: ignore[arg-type]
        if types_or and not types_or & tags_from_path(str(p)):
            continue
        if not re.search(str(hook.get("files") or ""), rel):
            continue
        out.append(p)
    return out


def _tree(tmp_path: Path) -> list[Path]:
    files = {
        "deploy/compose.yaml": COMPOSE_PRIV,
        "k8s/pod.yaml": "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n"
        "    - {name: c, image: intel/vllm:0.17.0-xpu, securityContext: {privileged: true}}\n",
        "scripts/serve.sh": "#!/bin/sh\ndocker run --privileged intel/vllm:0.17.0-xpu -tp 1\n",
        "scripts/build.sh": "#!/bin/sh\nmake all\n",
        ".github/workflows/ci.yml": "on: push\njobs: {}\n",
        "README.md": "# nothing\n",
        ".devcontainer/devcontainer.json": '{\n  // dev box\n  "image": "x",\n  "runArgs": ["--gpus all"],\n}\n',
        ".devcontainer/gpu/devcontainer.json": '{"image": "x", "privileged": true}',
        ".devcontainer/features.json": "{}",
    }
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    return sorted(tmp_path / rel for rel in files)


def test_manifest_is_valid_and_hooks_run_as_pre_commit_would(tmp_path: Path) -> None:
    hooks = _hooks()
    assert set(hooks) == {"tpdoctor-audit", "tpdoctor-audit-compose", "tpdoctor-audit-devcontainer"}
    paths = _tree(tmp_path)
    generic = _selected(hooks["tpdoctor-audit"], paths, tmp_path)
    assert {p.name for p in generic} == {"compose.yaml", "pod.yaml", "serve.sh", "build.sh", "ci.yml"}
    argv = shlex.split(str(hooks["tpdoctor-audit"]["entry"]))
    assert argv[0] == "tpdoctor"
    r = run_cli(*argv[1:], *map(str, generic), "--format", "json")
    assert r.returncode == 3, r.stderr  # the privileged containers fail the commit
    assert '"security.privileged"' in r.stdout and "build.sh" in r.stdout and "ci.yml" in r.stdout
    # only non-deployment files: the hook passes
    others = [p for p in generic if p.name in ("build.sh", "ci.yml")]
    assert run_cli(*argv[1:], *map(str, others)).returncode == 0
    # an invalid YAML still fails, even with --skip-other
    bad = tmp_path / "bad.yaml"
    bad.write_text("services:\n  a: [unclosed\n")
    assert run_cli(*argv[1:], str(bad)).returncode == 2

    compose_only = _selected(hooks["tpdoctor-audit-compose"], paths, tmp_path)
    assert [p.name for p in compose_only] == ["compose.yaml"]

    dev = _selected(hooks["tpdoctor-audit-devcontainer"], paths, tmp_path)
    assert sorted(str(p.relative_to(tmp_path)) for p in dev) == [
        ".devcontainer/devcontainer.json",
        ".devcontainer/gpu/devcontainer.json",
    ]
    dargv = shlex.split(str(hooks["tpdoctor-audit-devcontainer"]["entry"]))
    r = run_cli(*dargv[1:], *map(str, dev), "--format", "json")
    assert r.returncode == 3, r.stderr  # `"--gpus all"`: the dev container would not start
    assert '"runtime.flag-value-one-argument"' in r.stdout and '"security.privileged"' in r.stdout
