"""`tpdoctor audit` on Dev Container configs (devcontainer.json, JSONC): detection, the
`docker run` the devcontainer CLI makes of it, the one-argument runArgs finding, and `--fix` /
`--write` editing only the JSON elements that change.

The inputs are written here from the spec (devcontainers/spec schemas/devContainer.base.schema.json,
docs/specs/devcontainer-reference.md) and the CLI's mapping (devcontainers/cli
src/spec-node/singleContainer.ts `spawnDevContainer`, dockerCompose.ts)."""

from __future__ import annotations

import difflib
import json
import os
import re
from pathlib import Path

import pytest

from conftest import run_cli
from tpdoctor.deploy.audit import audit_model, detect_format, load
from tpdoctor.deploy.devcontainer import parse_jsonc
from tpdoctor.deploy.fix import fix_loaded
from tpdoctor.errors import InputError

PRIVILEGED = """// A dev container for tensor-parallel work on two NVIDIA GPUs.
{
\t"name": "tp-dev",
\t"image": "vllm/vllm-openai:v0.9.2",
\t/* all the GPUs; the rest is what a privileged box had */
\t"runArgs": [
\t\t"--gpus all",      // one argument: docker refuses it
\t\t"--privileged",
\t\t"--ipc=host",
\t\t"--network=host",
\t],
\t"capAdd": ["SYS_ADMIN", "SYS_PTRACE"],
\t"securityOpt": ["seccomp=unconfined"],
\t"containerEnv": {
\t\t"VLLM_TP": "2", // read by the start script
\t},
\t"postCreateCommand": "vllm serve facebook/opt-125m --tensor-parallel-size 2",
\t"customizations": {"vscode": {"extensions": ["ms-python.python",],},},
}
"""


# a line the fix brings in: string items (a trailing comma, a comment kept), or a new list property
_NEW_LINE = re.compile(r'\s*(?:"[^"]*",?\s*)+(?://.*)?\n?|\s*"\w+": \[.*\],?\n?')


def _dev(tmp_path: Path, text: str, name: str = "devcontainer.json") -> Path:
    d = tmp_path / ".devcontainer"
    d.mkdir(exist_ok=True)
    p = d / name
    p.write_text(text)
    return p


def _causes(path: Path) -> set[str]:
    return {f.cause for f in audit_model(load(path).model).findings}


# --- detection -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["devcontainer.json", ".devcontainer.json", "gpu/devcontainer.json"]
)
def test_detected_by_name(tmp_path: Path, name: str) -> None:
    p = tmp_path / ".devcontainer" / name
    p.parent.mkdir(parents=True)
    p.write_text('{"image": "ubuntu:24.04"}')  # nothing dev-container specific but the name
    assert detect_format(p.read_text(), str(p)) == "devcontainer"
    assert load(p).model.format == "devcontainer"


def test_detected_by_keys_and_forced(tmp_path: Path) -> None:
    p = tmp_path / "gpu.json"
    p.write_text('{\n  // comment\n  "image": "x",\n  "runArgs": ["--gpus=all"]\n}\n')
    assert detect_format(p.read_text(), str(p)) == "devcontainer"
    compose_json = tmp_path / "compose.json"  # compose accepts JSON; it is not a dev container
    compose_json.write_text('{"services": {"a": {"image": "x", "capAdd": ["X"]}}}')
    assert detect_format(compose_json.read_text(), str(compose_json)) == "compose"
    other = tmp_path / "cfg.json"
    other.write_text('{"image": "x", "privileged": true}')
    r = run_cli("audit", "--input", "devcontainer", str(other))
    assert r.returncode == 4, r.stderr
    assert "security.privileged" in r.stdout


def test_before_the_change_it_was_no_compose(tmp_path: Path) -> None:
    """The gap: `audit devcontainer.json` said 'no services: mapping found', exit 2."""
    p = _dev(tmp_path, PRIVILEGED)
    r = run_cli("audit", str(p))
    assert r.returncode == 3, r.stderr
    assert "no services" not in r.stderr



def test_fixes_are_shown_for_docker_run(tmp_path: Path) -> None:
    """The devcontainer CLI starts the container with `docker run`: that is whose fixes the user
    applies (deploy/model.py FIX_RUNTIME), not a compose or Kubernetes spelling."""
    p = _dev(tmp_path, PRIVILEGED)
    r = run_cli("audit", str(p))
    assert "fixes for docker run" in r.stdout, r.stdout[-600:]
    assert re.search(r"fix \(docker run\)", r.stdout) and not re.search(r"fix \((compose|kubernetes)", r.stdout)


# --- ${localEnv:...} references (devcontainers/cli src/spec-common/variableSubstitution.ts) -------


@pytest.mark.parametrize(
    "written, read",
    [
        ("${localEnv:SHM:16g}", "16g"),  # the default: what the CLI passes while SHM is unset
        ("${localEnv:HF_TOKEN}", "${HF_TOKEN}"),  # no default: a value from the environment
        ("${env:RENDER_GID}", "${RENDER_GID}"),  # the older spelling
        ("${containerEnv:PATH:/usr/bin}", "/usr/bin"),
        ("${localEnv:A:b:c}", "b"),  # lookupValue takes args[1]; the rest is dropped
        ("${localWorkspaceFolder}/models", "${localWorkspaceFolder}/models"),  # already a reference
        ("/a:${localEnv:X}:ro", "/a:${X}:ro"),
    ],
)
def test_environment_references_as_the_model_reads_them(written: str, read: str) -> None:
    from tpdoctor.deploy.devcontainer import resolve_vars

    assert resolve_vars(written) == read


def _found(tmp_path: Path, config: dict[str, object]) -> set[str]:
    p = _dev(tmp_path, json.dumps({"image": "vllm/vllm-openai:v0.9.2", **config}))
    return {f.cause for f in audit_model(load(p).model).findings}


def test_a_token_from_the_environment_is_not_inline(tmp_path: Path) -> None:
    env = {"containerEnv": {"HF_TOKEN": "${localEnv:HF_TOKEN}"}}
    assert "audit.secret-inline" not in _found(tmp_path, env)
    inline = {"containerEnv": {"HF_TOKEN": "hf_" + "q" * 34}}
    assert "audit.secret-inline" in _found(tmp_path, inline)


def test_shm_size_default_is_read(tmp_path: Path) -> None:
    big = {"runArgs": ["--gpus=all", "--shm-size=${localEnv:SHM:16g}"]}
    assert "shm.too-small" not in _found(tmp_path, big)
    small = {"runArgs": ["--gpus=all", "--shm-size=${localEnv:SHM:64m}"]}
    assert "shm.too-small" in _found(tmp_path, small)

# --- JSONC ---------------------------------------------------------------------------------------


def test_jsonc_comments_and_trailing_commas(tmp_path: Path) -> None:
    root, parser = parse_jsonc(PRIVILEGED, "x")
    names = [m.key for m in root.elems]
    assert names[:4] == ["name", "image", "runArgs", "capAdd"]
    assert len(parser.comments) == 4
    p = _dev(tmp_path, PRIVILEGED)
    svc = load(p).model.services[0]
    assert svc.image == "vllm/vllm-openai:v0.9.2"
    assert svc.env["VLLM_TP"] == "2"
    assert svc.privileged and svc.ipc == "host" and svc.network == "host"
    assert svc.caps_added == {"SYS_ADMIN", "SYS_PTRACE"}
    assert svc.security.seccomp == "unconfined"
    # strings that look like comments or hold a trailing comma are values, not syntax
    root, _ = parse_jsonc('{"a": "// not a comment, /* nor this */",}', "x")
    assert root.elems[0].val is not None and root.elems[0].val.value == "// not a comment, /* nor this */"


# --- runArgs and the top-level properties ---------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "check"),
    [
        ({"runArgs": ["--privileged"]}, lambda s: s.privileged),
        ({"privileged": True}, lambda s: s.privileged),
        ({"privileged": False}, lambda s: not s.privileged),
        ({"runArgs": ["--ipc", "host"]}, lambda s: s.ipc == "host"),
        ({"runArgs": ["--shm-size=8g"]}, lambda s: s.shm_size == 8 * 1024**3),
        ({"runArgs": ["--cap-add=SYS_ADMIN"]}, lambda s: "SYS_ADMIN" in s.caps_added),
        ({"capAdd": ["CAP_SYS_ADMIN"]}, lambda s: "SYS_ADMIN" in s.caps_added),
        ({"securityOpt": ["apparmor=unconfined"]}, lambda s: s.security.apparmor == "unconfined"),
        ({"runArgs": ["--security-opt", "seccomp=unconfined"]}, lambda s: s.security.seccomp == "unconfined"),
        ({"runArgs": ["--device=/dev/dri"]}, lambda s: [d.host for d in s.devices] == ["/dev/dri"]),
        ({"init": True}, lambda s: True),
        (
            {"mounts": ["source=/dev/dri/by-path,target=/dev/dri/by-path,type=bind,readonly"]},
            lambda s: s.mounts[0].target == "/dev/dri/by-path" and s.mounts[0].read_only,
        ),
        (
            {"mounts": [{"type": "bind", "source": "/models", "target": "/models"}]},
            lambda s: (s.mounts[0].kind, s.mounts[0].source) == ("bind", "/models")
            and s.mounts[0].target == "/models",
        ),
        ({"containerEnv": {"CUDA_VISIBLE_DEVICES": "0,1"}}, lambda s: s.env["CUDA_VISIBLE_DEVICES"] == "0,1"),
        ({"remoteEnv": {"HF_HOME": "/cache", "X": None}}, lambda s: s.env == {"HF_HOME": "/cache"}),
        ({"containerUser": "vscode"}, lambda s: s.user == "vscode"),
        ({"hostRequirements": {"gpu": True}}, lambda s: [g.raw for g in s.gpus] == ["--gpus all"]),
        ({"hostRequirements": {"gpu": "optional"}}, lambda s: len(s.gpus) == 1),
        ({"hostRequirements": {"gpu": {"cores": 2}}}, lambda s: len(s.gpus) == 1),
        ({"hostRequirements": {"gpu": False}}, lambda s: s.gpus == []),
        ({"runArgs": ["--gpus=2"]}, lambda s: s.gpus[0].count == 2),
        ({"build": {"dockerfile": "Dockerfile"}}, lambda s: s.image == "(built from Dockerfile)"),
    ],
)
def test_forms(tmp_path: Path, config: dict[str, object], check: object) -> None:
    p = _dev(tmp_path, json.dumps({"image": "x", **config} if "build" not in config else config))
    svc = load(p).model.services[0]
    assert callable(check) and check(svc), svc


def test_findings_point_at_the_json_line(tmp_path: Path) -> None:
    p = _dev(tmp_path, PRIVILEGED)
    lines = PRIVILEGED.splitlines()
    found = {f.cause: f for f in audit_model(load(p).model).findings}
    for cause, needle in [
        ("security.privileged", '"--privileged"'),
        ("audit.ipc-host-unneeded", '"--ipc=host"'),
        ("audit.cap-sys-admin", '"SYS_ADMIN"'),
        ("audit.seccomp-unconfined", "seccomp=unconfined"),
        ("runtime.flag-value-one-argument", '"--gpus all"'),
    ]:
        line = found[cause].evidence[0].line
        assert line is not None and needle in lines[line - 1], (cause, line)


def test_evidence_line_is_the_most_specific_setting() -> None:
    """ev() looks the evidence's line up by the words the format recorded; where two words are in
    the text (`/dev/dri` and `/dev/dri/by-path`), the longer one names the setting meant."""
    from tpdoctor.deploy.model import DeploymentModel, Service
    from tpdoctor.rules.deploy_common import ev
    from tpdoctor.rules.registry import DeployContext

    svc = Service(name="devcontainer", format="devcontainer", line=1)
    svc.lines = {"/dev/dri": 4, "/dev/dri/by-path": 9}
    ctx = DeployContext(model=DeploymentModel(source="devcontainer.json", format="devcontainer"))
    assert ev(svc, ctx, "mounts /dev/dri/by-path read-only").line == 9
    assert ev(svc, ctx, "device /dev/dri").line == 4
    assert ev(svc, ctx, "no setting named").line == 1


# --- one argument holding a flag and its value ---------------------------------------------------


def test_flag_value_one_argument(tmp_path: Path) -> None:
    p = _dev(
        tmp_path,
        '{\n  "image": "x",\n  "runArgs": ["--gpus all", "--shm-size 16g", "--label=a b", "-it"]\n}\n',
    )
    res = audit_model(load(p).model)
    one = [f for f in res.findings if f.cause == "runtime.flag-value-one-argument"]
    assert {f.severity for f in one} == {"blocker"}
    assert len(one) == 2  # `--label=a b` is a flag with `=`: pflag reads it
    assert all(f.evidence[0].line == 3 for f in one)
    svc = load(p).model.services[0]
    assert svc.shm_size == 16 * 1024**3  # what was meant is read, so the other rules see it
    fixed = fix_loaded(load(p), None).text
    root, _ = parse_jsonc(fixed, "x")
    run_args = root.get("runArgs")
    assert run_args is not None and run_args.val is not None
    items = [e.value for e in run_args.val.elems]
    assert items[:2] == ["--gpus=all", "--shm-size=16g"] and "--label=a b" in items
    assert "runtime.flag-value-one-argument" not in {
        f.cause for f in audit_model(load(p, text=fixed).model).findings
    }


def test_several_flags_in_one_item_become_items(tmp_path: Path) -> None:
    p = _dev(tmp_path, '{"image": "x", "runArgs": ["--init --ipc=host"]}')
    fixed = fix_loaded(load(p), None).text
    assert '"--init", "--ipc=host"' in fixed or '"--init"' in fixed


def test_cli_exit_and_message(tmp_path: Path) -> None:
    p = _dev(tmp_path, '{"image": "x", "runArgs": ["--gpus all"]}')
    r = run_cli("audit", str(p))
    assert r.returncode == 3
    assert "runtime.flag-value-one-argument" in r.stdout and "--gpus=all" in r.stdout


# --- --fix / --write ---------------------------------------------------------------------------


def test_privileged_fixed_in_place(tmp_path: Path) -> None:
    p = _dev(tmp_path, PRIVILEGED)
    before = _causes(p)
    assert {"security.privileged", "audit.ipc-host-unneeded", "audit.cap-sys-admin"} <= before
    r = run_cli("audit", "--fix", str(p))
    assert r.returncode in (0, 4), r.stderr
    assert p.read_text() == PRIVILEGED  # --fix changes nothing
    fixed = fix_loaded(load(p), None).text
    # every line outside the edited elements is the original's, byte for byte and in order:
    # the old lines the fix replaced or removed each hold one of the items it had to touch
    edited = ("--gpus all", "--privileged", "--ipc=host", "SYS_ADMIN", "seccomp=unconfined")
    old_lines, new_lines = PRIVILEGED.splitlines(keepends=True), fixed.splitlines(keepends=True)
    sm = difflib.SequenceMatcher(None, old_lines, new_lines, autojunk=False)
    kept = 0
    for tag, i1, i2, j1, j2 in sm.get_opcodes():
        if tag == "equal":
            kept += i2 - i1
            continue
        for line in old_lines[i1:i2]:
            assert any(e in line for e in edited), (tag, line)
        for line in new_lines[j1:j2]:  # what came in: the fixed items, nothing else
            assert _NEW_LINE.fullmatch(line), line
    assert kept >= len(old_lines) - 6
    # comments, order, tabs and trailing commas elsewhere survive
    for keep in (
        "// A dev container for tensor-parallel work on two NVIDIA GPUs.",
        "/* all the GPUs; the rest is what a privileged box had */",
        '\t\t"VLLM_TP": "2", // read by the start script',
        '\t"customizations": {"vscode": {"extensions": ["ms-python.python",],},},',
        '\t\t"--gpus=all",      // one argument: docker refuses it',
        '\t\t"--network=host",',
    ):
        assert keep in fixed, keep
    root, _ = parse_jsonc(fixed, "fixed")
    assert [m.key for m in root.elems][:4] == ["name", "image", "runArgs", "capAdd"]
    after = {f.cause for f in audit_model(load(p, text=fixed).model).findings}
    assert not after & {
        "security.privileged",
        "audit.ipc-host-unneeded",
        "audit.cap-sys-admin",
        "audit.seccomp-unconfined",
        "runtime.flag-value-one-argument",
    }, after
    assert "audit.network-host-unneeded" in after  # reported, not changed (as for every format)
    assert fix_loaded(load(p, text=fixed), None).text == fixed  # a second fix changes nothing


def test_strict_json_stays_strict(tmp_path: Path) -> None:
    text = json.dumps(
        {"image": "x", "runArgs": ["--gpus=all", "--ipc=host"], "privileged": True, "capAdd": ["SYS_ADMIN"]},
        indent=4,
    )
    p = _dev(tmp_path, text)
    fixed = fix_loaded(load(p), None).text
    data = json.loads(fixed)  # no trailing comma was introduced, no comment
    assert "privileged" not in data and "capAdd" not in data
    assert "--ipc=host" not in data["runArgs"] and "--shm-size=16g" in data["runArgs"]
    assert re.search(r'^ {8}"--gpus=all",$', fixed, re.M)  # the file's own indentation


def test_one_line_config(tmp_path: Path) -> None:
    text = '{"image": "x", "privileged": true, "hostRequirements": {"gpu": true}}'
    p = _dev(tmp_path, text)
    fixed = fix_loaded(load(p), None).text
    data = json.loads(fixed)
    assert "privileged" not in data and data["hostRequirements"] == {"gpu": True}
    assert fixed.count("\n") == 0


def test_write_backup_and_second_run(tmp_path: Path) -> None:
    p = _dev(tmp_path, PRIVILEGED)
    os.chmod(p, 0o640)
    r = run_cli("audit", "--write", str(p))
    assert r.returncode in (0, 4), r.stderr
    assert "wrote" in r.stderr
    assert Path(str(p) + ".tpdoctor.bak").read_text() == PRIVILEGED
    assert (p.stat().st_mode & 0o777) == 0o640
    assert '"--privileged"' not in p.read_text()
    r2 = run_cli("audit", "--write", str(p))
    assert "nothing to change" in r2.stderr


def test_write_refuses_a_symlink(tmp_path: Path) -> None:
    real = tmp_path / "real.json"
    real.write_text(PRIVILEGED)
    d = tmp_path / ".devcontainer"
    d.mkdir()
    link = d / "devcontainer.json"
    link.symlink_to(real)
    r = run_cli("audit", "--write", str(link))
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert "Traceback" not in r.stderr
    assert real.read_text() == PRIVILEGED and link.is_symlink()
    assert not list(tmp_path.rglob("*.tpdoctor.bak"))


def test_allow_comment(tmp_path: Path) -> None:
    text = PRIVILEGED.replace(
        '\t"name": "tp-dev",',
        '\t"name": "tp-dev",\n\t// tpdoctor: allow security.privileged reason=GPU reset tests',
    )
    p = _dev(tmp_path, text)
    res = audit_model(load(p).model)
    assert "security.privileged" not in {f.cause for f in res.findings}
    assert any("GPU reset tests" in a for a in res.allowed)
    assert '"--privileged"' in fix_loaded(load(p), None).text


# --- bad input -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ('{"image": "x", "runArgs": "--gpus all"}', '"runArgs" must be an array of strings'),
        ('{"image": "x", "runArgs": ["--gpus", 1]}', '"runArgs[1]" must be a string'),
        ('{"image": "x", "privileged": "yes"}', '"privileged" must be true or false'),
        ('{"image": "x", "capAdd": "SYS_ADMIN"}', '"capAdd" must be an array of strings'),
        ('{"image": "x", "containerEnv": ["A=1"]}', '"containerEnv" must be an object'),
        ('{"image": "x", "hostRequirements": {"gpu": "yes"}}', '"hostRequirements.gpu" must be'),
        ('{"image": "x", "mounts": [5]}', "must be a string or a mount object"),
        ('{"image": 5}', '"image" must be a string'),
        ('{"image": "x",, }', "invalid JSONC at line 1, column 15"),
        ("not json at all", "invalid JSONC"),
        ("[1, 2]", "must hold a JSON object"),
        ('{"image": "x" /* open', "unterminated /* comment"),
        ('{"a": "\\q"}', "invalid escape"),
        ('{"runArgs": ' + "[" * 5000 + "]" * 5000 + "}", "nested more than"),
    ],
)
def test_bad_input_one_line_exit_2(tmp_path: Path, text: str, needle: str) -> None:
    p = _dev(tmp_path, text)
    for args in ([], ["--fix"]):
        r = run_cli("audit", *args, str(p))
        assert r.returncode == 2, (r.returncode, r.stderr[-2000:])
        assert "Traceback" not in r.stderr and r.stderr.strip().count("\n") == 0, r.stderr
        assert needle in r.stderr and str(p) in r.stderr, r.stderr


def test_huge_file_refused(tmp_path: Path) -> None:
    p = _dev(tmp_path, '{"image": "x", "runArgs": [' + '"--init",' * 1_100_000 + "]}")
    r = run_cli("audit", str(p))
    assert r.returncode == 2 and r.stderr.strip().count("\n") == 0, r.stderr


def test_parser_raises_input_error_only() -> None:
    with pytest.raises(InputError):
        parse_jsonc('{"a": 1 "b": 2}', "x")


# --- compose-based -------------------------------------------------------------------------------


def test_compose_based_notice(tmp_path: Path) -> None:
    text = """{
    // the container is a compose service
    "name": "svc",
    "dockerComposeFile": ["../docker-compose.yml", "docker-compose.gpu.yml"],
    "service": "trainer",
    "runArgs": ["--gpus all"],
    "hostRequirements": {"gpu": true},
    "privileged": true
}
"""
    p = _dev(tmp_path, text)
    outside = tmp_path / "docker-compose.yml"
    outside.write_text("services:\n  trainer:\n    image: x\n    privileged: true\n")
    r = run_cli("audit", "--format", "json", str(p))
    data = json.loads(r.stdout)
    notes = [n for n in data["notes"] if "compose" in n]
    one = [n for n in notes if "'trainer'" in n]
    assert len(one) == 1, notes
    assert "../docker-compose.yml" in one[0] and "docker-compose.gpu.yml" in one[0]
    assert "audit" in one[0] and "compose file" in one[0]
    assert "hostRequirements.gpu" in one[0]
    assert any("runArgs is not read" in n for n in data["notes"])
    causes = {f["cause"] for f in data["findings"]}
    # privileged is what the CLI writes into the override compose file: reported here; runArgs
    # are not read, and nothing about the service's own /dev/shm is guessed
    assert "security.privileged" in causes
    assert "runtime.flag-value-one-argument" not in causes and "shm.too-small" not in causes
    assert str(outside) not in r.stdout  # the compose file is named, never read


def test_fixed_text_is_what_docker_would_get(tmp_path: Path) -> None:
    """The runArgs of the fixed file are argv words docker's parser accepts (no blank-joined flag)."""
    p = _dev(tmp_path, PRIVILEGED)
    root, _ = parse_jsonc(fix_loaded(load(p), None).text, "x")
    run_args = root.get("runArgs")
    assert run_args is not None and run_args.val is not None
    for e in run_args.val.elems:
        assert not re.match(r"^--[\w-]+\s", e.value), e.value


@pytest.mark.parametrize("indent", [None, 4])
def test_last_item_removed_takes_the_comma_before_it(tmp_path: Path, indent: int | None) -> None:
    """Only `--ipc=host`, the last item, goes: the comma before it goes too (strict JSON stays
    strict), and nothing else moves."""
    config = {
        "image": "x",
        "hostRequirements": {"gpu": True},
        "securityOpt": ["no-new-privileges:true"],
        "runArgs": ["--shm-size=16g", "--cap-drop=ALL", "--ipc=host"],
    }
    text = json.dumps(config, indent=indent) + "\n"
    p = _dev(tmp_path, text)
    fixed = fix_loaded(load(p), None).text
    config["runArgs"] = ["--shm-size=16g", "--cap-drop=ALL"]
    assert fixed == json.dumps(config, indent=indent) + "\n"


def test_emptied_list_property_goes_whole(tmp_path: Path) -> None:
    text = '{\n\t"image": "x",\n\t"capAdd": [\n\t\t"SYS_ADMIN", // c\n\t],\n\t"runArgs": ["--gpus=all"],\n}\n'
    p = _dev(tmp_path, text)
    fixed = fix_loaded(load(p), None).text
    assert "capAdd" not in fixed and "SYS_ADMIN" not in fixed
    assert fixed.startswith('{\n\t"image": "x",\n\t"runArgs": ["--gpus=all", ')
    parse_jsonc(fixed, "fixed")


@pytest.mark.parametrize(
    "run_args", [["--privileged", "all", "--ipc=host"], ["--privileged", "--security-opt"]]
)
def test_broken_run_args_are_said_and_not_edited(tmp_path: Path, run_args: list[str]) -> None:
    p = _dev(tmp_path, json.dumps({"image": "x", "hostRequirements": {"gpu": True}, "runArgs": run_args}))
    loaded = load(p)
    notes = loaded.frontend.notices(loaded.handle)
    assert any("runArgs" in n for n in notes), notes
    assert loaded.model.services[0].privileged
    result = fix_loaded(loaded, None)
    assert result.text == p.read_text()
    assert any("left as written" in c for plan in result.plans for c in plan.cannot)


def test_explain_config_fixes_the_glued_flag(tmp_path: Path) -> None:
    p = _dev(tmp_path, '{"image": "x", "runArgs": ["--gpus all"]}')
    log = tmp_path / "log.txt"
    log.write_text("docker: unknown flag: --gpus all\nSee 'docker run --help'.\n")
    r = run_cli("explain", str(log), "--config", str(p))
    assert "--gpus=all" in r.stdout, (r.returncode, r.stdout[-2000:], r.stderr[-2000:])


def test_fix_leaves_a_dev_container_without_the_serving_hardening(tmp_path: Path) -> None:
    """The same privileged container as a `docker run` line gets no-new-privileges and cap-drop ALL;
    as a dev container it does not (sudo and apt-get must keep working), and --strict reports them."""
    p = _dev(tmp_path, PRIVILEGED)
    fixed = fix_loaded(load(p), None).text
    assert "--privileged" not in fixed and "--shm-size=16g" in fixed
    assert "no-new-privileges" not in fixed and "--cap-drop" not in fixed
    script = tmp_path / "run.sh"
    script.write_text("docker run --gpus all --privileged --ipc=host vllm/vllm-openai:v0.9.2\n")
    shell_fixed = fix_loaded(load(script), None).text
    assert "no-new-privileges" in shell_fixed and "--cap-drop ALL" in shell_fixed
    strict = audit_model(load(p).model, None, strict=True)
    assert "audit.hardening-missing" not in {f.cause for f in strict.findings}  # still privileged here
    calm = _dev(tmp_path, '{"image": "vllm/vllm-openai:v0.9.2", "runArgs": ["--gpus=all", "--shm-size=16g"]}\n')
    assert "audit.hardening-missing" in {f.cause for f in audit_model(load(calm).model, None, strict=True).findings}
    assert "audit.hardening-missing" not in {f.cause for f in audit_model(load(calm).model, None).findings}
