"""`audit --fix` on shell scripts edits only the flag words that change, byte for byte.

Each script is fixed, checked with `bash -n`, and run (original and fixed) with stub `docker` /
`podman` / `sudo` on PATH that record their argv: the fixed command gets the original arguments
plus exactly the edits the plan asked for, and every word that is not a changed flag is identical.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from conftest import SHARED
from deploy_helpers import corpus_configs, two_gpu_facts
from tpdoctor.deploy.audit import audit_model, load
from tpdoctor.deploy.compose import spell
from tpdoctor.deploy.dockerrun import FLAG_OF, canonical
from tpdoctor.deploy.fix import fix_loaded
from tpdoctor.deploy.shellwords import split_commands

STUB = '#!/bin/sh\nprintf "%s\\0" "$(basename "$0")" "$@" >> "$ARGV_OUT"\nprintf "\\n\\0" >> "$ARGV_OUT"\n'

NEW_CASES = {
    "quoting-subst-redirect": (
        "TAG=$(date +%s)\n"
        'docker run -d --privileged --name "vllm-$TAG" \\\n'
        '  -v "$PWD/models":/llm/models \\\n'
        "  -e MSG='a b  c' \\\n"
        "  --ipc=host \\\n"
        "  intelanalytics/ipex-llm-serving-xpu:latest \\\n"
        '  bash -c "${RAY_START_CMD:-ray start --head}; echo `hostname`" > log.txt 2>&1\n'
    ),
    "heredoc-and-comment": (
        "cat > /dev/null <<'EOF'\ndocker run --privileged not-a-command\nEOF\n"
        "# docker run --privileged in a comment\n"
        'docker run --privileged --shm-size="1g" -it intelanalytics/ipex-llm-serving-xpu bash  # trailing note\n'
    ),
    "unknown-expansion-alone": (
        "docker run -d \\\n  ${RDMA_FLAGS} \\\n  --privileged \\\n  --ipc=host \\\n  --network=host \\\n"
        "  --device /dev/dri \\\n  intelanalytics/ipex-llm-serving-xpu:latest\n"
    ),
    "pipeline-and-and": (
        "docker pull vllm/vllm-openai && docker run --privileged --gpus all vllm/vllm-openai "
        "--tensor-parallel-size 2 | tee out.log\n"
    ),
    "podman-inline": "podman run --rm --privileged --device /dev/dri docker.io/intel/vllm:0.17.0-xpu -tp=2\n",
}

UNTOUCHED = {
    "array": (
        'EXTRA=(--ipc=host --privileged)\ndocker run "${EXTRA[@]}" --privileged intelanalytics/ipex-llm-serving-xpu\n',
        "array expansion",
    ),
    "eval": (
        'eval "docker run --privileged intelanalytics/ipex-llm-serving-xpu"\n'
        "docker run --shm-size $SHM intelanalytics/ipex-llm-serving-xpu\n",
        "variable",
    ),
}


def _shell_cases(shared: Path) -> list[tuple[str, str]]:
    cases = [
        (c["id"], c["content"]) for c in corpus_configs(shared) if c["kind"] in ("docker-run", "podman-run")
    ]
    cases += [
        ("tests-gpus", "docker run --privileged vllm/vllm-openai --tensor-parallel-size 4\n"),
        (
            "tests-home",
            "docker run --privileged -v ~/.cache/hf:/root/.cache/hf intelanalytics/ipex-llm-serving-xpu\n",
        ),
        (
            "tests-explain",
            "#!/bin/sh\ndocker run -d --name vllm \\\n  --device /dev/dri/renderD128 --device /dev/dri/renderD129 \\\n"
            "  --group-add 993 \\\n  -v /models:/llm/models \\\n  intelanalytics/ipex-llm-serving-xpu:latest\n",
        ),
    ]
    return cases + sorted(NEW_CASES.items())


def _argv(script: str, tmp: Path) -> list[list[str]]:
    bindir = tmp / "bin"
    bindir.mkdir(exist_ok=True)
    for name in ("docker", "podman"):
        (bindir / name).write_text(STUB)
        (bindir / name).chmod(0o755)
    (bindir / "sudo").write_text('#!/bin/sh\nexec "$@"\n')
    (bindir / "sudo").chmod(0o755)
    # the scripts' $(date +%s) must read the same in both runs (a second passing between them changed a name: flaky)
    (bindir / "date").write_text("#!/bin/sh\necho 1700000000\n")
    (bindir / "date").chmod(0o755)
    out = tmp / "argv"
    out.write_bytes(b"")
    runnable = re.sub(r"(?m)^(\s*)\$ ", r"\1", script)  # pasted prompts
    env = {"PATH": f"{bindir}:/usr/bin:/bin", "ARGV_OUT": str(out), "HOME": str(tmp)}
    subprocess.run(["bash", "-c", runnable], cwd=tmp, env=env, capture_output=True, timeout=30, check=False)
    calls, cur = [], []
    for tok in out.read_bytes().decode().split("\0")[:-1]:
        if tok == "\n":
            calls.append(cur)
            cur = []
        else:
            cur.append(tok)
    return calls


def _opts(argv: list[str]) -> tuple[list[tuple[str, str | None]], list[str]]:
    """(flag, value) pairs with canonical names, and the image + its arguments."""
    from tpdoctor.deploy.dockerrun import parse_flags

    n = argv.index("run") + 1
    flags, img = parse_flags(argv, n)
    out: list[tuple[str, str | None]] = []
    for f in flags:
        out.append((canonical(f.name), f.value))
    return out, argv[img:]


def _expected(
    before: list[tuple[str, str | None]], ops: list[tuple[str, ...]]
) -> list[tuple[str, str | None]]:
    """What the plan asks for, applied to the original argv: removals and rewrites in place."""
    out = list(before)
    for op in ops:
        if op[0] == "gpu_reservation":
            continue
        flag = canonical(FLAG_OF[op[1]])
        if op[0] == "unset":
            out = [o for o in out if o[0] != flag]
        elif op[0] == "list_remove":
            out = [o for o in out if o != (flag, op[2])]
        elif op[0] == "list_replace":
            out = [(f, op[3]) if (f, v) == (flag, op[2]) else (f, v) for f, v in out]
        elif op[0] == "set":
            idx = [i for i, o in enumerate(out) if o[0] == flag]
            if idx:
                out[idx[0]] = (flag, op[2])
    return out


def _added(
    base: list[tuple[str, str | None]], ops: list[tuple[str, ...]], argv: list[str]
) -> list[tuple[str, str | None]]:
    """The new options the plan asks for, in plan order, each once."""
    out: list[tuple[str, str | None]] = []
    for op in ops:
        if op[0] == "gpu_reservation":
            if "podman" in argv[0] or argv[:2] == ["sudo", "podman"]:
                ids = ["all"] if op[2] == "all" else [str(i) for i in range(int(op[2]))]
                out += [("--device", f"nvidia.com/gpu={i}") for i in ids]
            elif not any(f == "--gpus" for f, _ in base):
                out.append(("--gpus", op[2]))
            continue
        flag = canonical(FLAG_OF[op[1]])
        if op[0] == "list_add" and (flag, op[2]) not in base and (flag, op[2]) not in out:
            out.append((flag, op[2]))
        elif op[0] == "set" and not any(f == flag for f, _ in base):
            out.append((flag, op[2]))
        elif op[0] == "list_remove":
            out = [o for o in out if o != (flag, op[2])]
    return out


def _run_words(text: str) -> list[str]:
    return [w.raw for c in split_commands(text) for w in c.words]


def _case_ids() -> list[str]:
    return [n for n, _ in _shell_cases(SHARED)] if SHARED.is_dir() else ["corpus-missing"]


@pytest.mark.parametrize("case", _case_ids())
def test_fix_touches_only_flag_words(case: str, shared_dir: Path, tmp_path: Path) -> None:
    name, script = case, dict(_shell_cases(shared_dir))[case]
    p = tmp_path / f"{name}.sh"
    p.write_text(script)
    loaded = load(p)
    res = fix_loaded(loaded, two_gpu_facts(render_gid=992))
    assert res.text != script, name
    assert subprocess.run(["bash", "-n", "-c", res.text], check=False).returncode == 0, res.text
    broken = any(r.breaks for r in loaded.handle)
    old_lines = set(script.splitlines())
    for ln in res.text.splitlines():  # a removed flag leaves no double blank behind
        assert ln in old_lines or "  " not in ln.split("  #")[0].strip(), (name, ln)
    # every word that is not a docker/podman run option is unchanged and in order
    run_lines = {ln for r in loaded.handle for ln in range(r.start_line, r.end_line + 1)}
    outside = [
        ln
        for i, ln in enumerate(script.splitlines(keepends=True), 1)
        if i not in run_lines and not ln.lstrip().startswith("#")
    ]
    for ln in outside:
        assert ln in res.text, (name, ln)
    old_words, new_words = _run_words(script), _run_words(res.text)
    flag_like = re.compile(r"^-")
    kept_old = [w for w in old_words if w not in new_words]
    for w in kept_old:  # a word that vanished is an option or an option's value
        i = old_words.index(w)
        assert flag_like.match(w) or flag_like.match(old_words[i - 1]), (name, w)
    if broken:
        return
    before_calls, after_calls = _argv(script, tmp_path), _argv(res.text, tmp_path)
    runs = [c for c in before_calls if "run" in c]
    fixed_runs = [c for c in after_calls if "run" in c]
    assert len(runs) == len(fixed_runs) == len(res.plans), name
    assert [c for c in before_calls if "run" not in c] == [c for c in after_calls if "run" not in c]
    for before, after, plan, svc in zip(runs, fixed_runs, res.plans, loaded.model.services, strict=True):
        b_opts, b_rest = _opts(before)
        a_opts, a_rest = _opts(after)
        assert a_rest == b_rest and after[: after.index("run")] == before[: before.index("run")]
        ops = [op for e in plan.ops for op in spell(svc, e) or []]  # the edits as flag operations
        base = _expected(b_opts, ops)
        assert a_opts[: len(base)] == base, (name, ops)
        assert a_opts[len(base) :] == _added(base, ops, before), (name, ops)


def test_unknown_expansion_does_not_stop_the_parser(tmp_path: Path) -> None:
    p = tmp_path / "run.sh"
    p.write_text(NEW_CASES["unknown-expansion-alone"])
    loaded = load(p)
    svc = loaded.model.services[0]
    assert svc.privileged and svc.ipc == "host" and svc.network == "host"
    assert svc.image == "intelanalytics/ipex-llm-serving-xpu:latest"
    causes = {f.cause for f in audit_model(loaded.model).findings}
    assert "security.privileged" in causes and "shm.too-small" not in causes
    assert any("${RDMA_FLAGS}" in n and "line 2" in n for n in loaded.handle[0].notices)


@pytest.mark.parametrize("name", sorted(UNTOUCHED))
def test_unsafe_constructs_are_left_as_written(name: str, tmp_path: Path) -> None:
    script, why = UNTOUCHED[name]
    p = tmp_path / "run.sh"
    p.write_text(script)
    loaded = load(p)
    res = fix_loaded(loaded, two_gpu_facts())
    assert res.text == script
    notes = (
        [c for pl in res.plans for c in pl.cannot]
        + [n for r in loaded.handle for n in r.unsafe]
        + loaded.model.notes
    )
    assert any(why in n and "line " in n for n in notes), notes
    if name == "eval":
        assert any("eval" in n and "line 1" in n for n in loaded.model.notes)


def test_cli_fix_is_idempotent_and_reports_notice(tmp_path: Path) -> None:
    from conftest import run_cli

    p = tmp_path / "run.sh"
    p.write_text(NEW_CASES["quoting-subst-redirect"])
    assert run_cli("audit", "--write", str(p)).returncode in (0, 3)
    once = p.read_text()
    assert '"$PWD/models":/llm/models' in once and "> log.txt 2>&1" in once and "`hostname`" in once
    r = run_cli("audit", "--write", str(p))
    assert "nothing to change" in r.stderr and p.read_text() == once


README = """\
# Serving

Let's start the server (it's one command):

```bash
docker run -d --privileged --ipc=host \\
  intelanalytics/ipex-llm-serving-xpu:latest
```

Don't forget the model's path.
"""


def test_readme_code_blocks_are_read_and_edited_in_place(tmp_path: Path) -> None:
    p = tmp_path / "README.md"
    p.write_text(README)
    loaded = load(p)
    assert loaded.model.services[0].privileged
    res = fix_loaded(loaded, two_gpu_facts())
    assert "--privileged" not in res.text and "--ipc" not in res.text
    old, new = README.splitlines(), res.text.splitlines()
    prose = [ln for ln in old if "docker" not in ln and "intelanalytics" not in ln]
    assert all(ln in new for ln in prose)  # prose and fences untouched


def test_unterminated_quote_is_a_one_line_error(tmp_path: Path) -> None:
    from conftest import run_cli

    p = tmp_path / "run.sh"
    p.write_text('echo ok\ndocker run --privileged -e "A=1 intelanalytics/ipex-llm-serving-xpu\n')
    r = run_cli("audit", "--write", str(p))
    assert r.returncode == 2 and "line 2: unterminated double quote" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_commands_after_keywords_and_operators_are_found(tmp_path: Path) -> None:
    p = tmp_path / "run.sh"
    p.write_text(
        "if ! docker run --privileged img:a; then echo no; fi\n"
        "f() { sudo docker run --ipc=host img:b; }\n"
        "true && podman run --cap-add SYS_ADMIN img:c | tee log\n"
    )
    images = [s.image for s in load(p).model.services]
    assert images == ["img:a", "img:b", "img:c"]
