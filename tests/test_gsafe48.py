"""gsafe48: hostile-input pass (docs/security.md, ## gsafe48). Each test failed on the tree before its fix."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from test_safety_fuzz import invoke


def _took(fn: Any, *args: Any) -> float:
    t = time.perf_counter()
    fn(*args)
    return time.perf_counter() - t


def _root_with_env(tmp_path: Path, env: dict[str, str]) -> Path:
    root = tmp_path / "root"
    (root / "proc/self").mkdir(parents=True)
    (root / "etc").mkdir()
    (root / "proc/self/status").write_text("Uid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\n")
    (root / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/bash\n")
    (root / "proc/self/environ").write_text("\0".join(f"{k}={v}" for k, v in env.items()))
    return root


# -- check --root: paths from a hostile environment ---------------------------------------------------------------------
def test_in_root_resolution_is_linear_in_the_path() -> None:
    """resolve_in_root joined every prefix and popped the list's head per component: a TMPDIR of 80,000 components
    (`/a/a/a/…`, 160 KB of a 16 MiB environ) took 45 s in jit_cache's temp_dir, 2,000,000 hours."""
    from tpdoctor.facts.fsutil import resolve_in_root

    assert _took(resolve_in_root, Path("/nonexistent-root"), "/a" * 200_000) < 2.0


def test_in_root_resolution_keeps_its_answers(tmp_path: Path) -> None:
    from tpdoctor.facts.fsutil import resolve_in_root

    (tmp_path / "d/e").mkdir(parents=True)
    (tmp_path / "d/up").symlink_to("../..")
    (tmp_path / "d/abs").symlink_to("/d/e")
    (tmp_path / "loop").symlink_to("loop")
    assert resolve_in_root(tmp_path, "/d/up/d/abs/x") == "/d/e/x"
    assert resolve_in_root(tmp_path, "/../../d/./e/../abs") == "/d/e"
    assert resolve_in_root(tmp_path, "/loop/x") is None
    # past PATH_MAX nothing is a link (lstat: ENAMETOOLONG), but `..` still comes back
    deep = "/x" * 3000
    assert resolve_in_root(tmp_path, deep + "/.." * 3000 + "/d/abs") == "/d/e"


def test_a_huge_tmpdir_or_home_gives_a_short_error_line(tmp_path: Path) -> None:
    """A TMPDIR past PATH_MAX made Path.is_dir raise ENAMETOOLONG: the whole JIT-cache collector was lost, and its
    error line, like the one for a HOME (NCCL's ~/.nccl.conf) of 2 MB, quoted the path whole: a 2 MB line in the
    report (text and JSON)."""
    root = _root_with_env(
        tmp_path,
        {"TMPDIR": "/" + "a/" * 100_000, "HOME": "/" + "h/" * 100_000, "USER": "root",
         "TORCHINDUCTOR_CACHE_DIR": "/" + "t/" * 100_000},
    )  # fmt: skip
    (root / "tmp/torchinductor_root").mkdir(parents=True)
    (root / "tmp/torchinductor_root").chmod(0o700)
    t = time.perf_counter()
    code, out = invoke("check", "--root", str(root), "--format", "json")
    assert time.perf_counter() - t < 20
    assert code in (0, 3, 4), out[-2000:]
    assert max(len(line) for line in out.splitlines()) < 2000
    assert "tpdoctor.facts.jit_cache" not in out  # the collector ran to its end
    code, out = invoke("check", "--root", str(root))
    assert max(len(line) for line in out.splitlines()) < 2000, max(len(line) for line in out.splitlines())


# -- explain: a gzip cut inside its header ------------------------------------------------------------------------------
@pytest.mark.parametrize("data", [b"\x1f\x8b", b"\x1f\x8b\x08", b"\x1f\x8b\x08\x00\x00\x00"])
def test_a_gzip_cut_in_its_header_is_damaged_input(tmp_path: Path, data: bytes) -> None:
    """The 2-byte gzip magic alone was explained as an empty log, without the damaged-input note: GzipFile forgets a
    header cut short after the first read (the peek for a BOM) and reads on as an empty stream."""
    f = tmp_path / "x.log.gz"
    f.write_bytes(data)
    code, out = invoke("explain", str(f))
    assert code == 0 and "input ends in damaged data" in out, out
    code, out = invoke("explain", "-", stdin=data)
    assert "input ends in damaged data" in out, out


# -- the redactor -------------------------------------------------------------------------------------------------------
def test_pw_and_a_lowercase_pwd_are_secret_names() -> None:
    """`--label pw=x`, `DB_PW=x`, `pwd=x` and an ODBC connection string's `Pwd=x` were printed (PWD was excepted
    whatever its case, PW no secret word); the shell's own PWD and OLDPWD, paths, stay."""
    from tpdoctor.redact import is_secret_name, redact_line

    for line, want in (
        ("docker run --label pw=Walrus77 img", "docker run --label pw=<redacted> img"),
        ("DB_PW=Walrus77", "DB_PW=<redacted>"),
        ("mysql_pw: Walrus77", "mysql_pw: <redacted>"),
        ("pwd=Walrus77", "pwd=<redacted>"),
        ("Server=db;Uid=sa;Pwd=Walrus77;", "Server=db;Uid=sa;Pwd=<redacted>;"),
        ("app --pw Walrus77", "app --pw <redacted>"),
    ):
        assert redact_line(line) == want, line
    for line in ("PWD=/workspace", "OLDPWD=/tmp", "cd $PWD", "pwr=300W", "PWR_LIMIT=300", "pw_file=/run/pw", "pwm=1",
                 "    return pwd.getpwuid(os.getuid())[0]"):  # fmt: skip
        assert redact_line(line) == line, line
    assert not is_secret_name("PWD") and not is_secret_name("OLDPWD") and is_secret_name("pwd")


def test_a_secret_flag_after_the_image_is_the_programs() -> None:
    """`docker run img app --secret X`: gsafe47 kept every `--secret` value of an engine's command, the program's after
    the image too."""
    from tpdoctor.redact import redact_line

    for line, want in (
        ("docker run img app --secret Walrus77", "docker run img app --secret <redacted>"),
        ("docker run --rm -it -e A=1 --secret hf img python serve.py --secret Walrus77",
         "docker run --rm -it -e A=1 --secret hf img python serve.py --secret <redacted>"),
        ("docker --config /x run --secret hf img app --secret=Walrus77",
         "docker --config /x run --secret hf img app --secret=<redacted>"),
        ('podman run -v "a b:/c" --secret hf img --secret Walrus77',
         'podman run -v "a b:/c" --secret hf img --secret <redacted>'),
        ("docker exec -it ctr app --secret Walrus77", "docker exec -it ctr app --secret <redacted>"),
        ("docker compose run --rm svc app --secret Walrus77", "docker compose run --rm svc app --secret <redacted>"),
    ):  # fmt: skip
        assert redact_line(line) == want, line
    # the engine's own --secret (a name) and a secret spec stay, before the image or without one
    for line in ("podman run --secret mysecret img", "docker service create --secret db_password img",
                 "podman container run -e A=1 --secret hf img", "docker build --secret id=x,src=y .",
                 "docker run img app --secret id=x,src=/y", "docker run --secret hf"):  # fmt: skip
        assert redact_line(line) == line, line


@pytest.mark.parametrize(
    "line",
    [
        "docker run " + "--secret Walrus77 " * 3600,
        ("docker run img --secret Walrus77 ") * 2000,
        "docker " + "-H " * 20000 + "run --secret x img --secret y",
        "docker run " + '"\\' * 20000 + " --secret x",
        "docker run '" + ' --secret Walrus77 "' * 3000,
    ],
)
def test_the_image_search_is_linear(line: str) -> None:
    from tpdoctor.redact import redact_line

    assert _took(redact_line, line) < 1.0


# -- audit: many services ------------------------------------------------------------------------------------------------
def test_an_allow_comment_line_is_searched_once_per_file() -> None:
    """Each `docker run` searched its lines for `# tpdoctor: allow`: 2,000 commands on one line before a 4 MiB comment
    searched 8 GB (9 s); 20,000 short ones on one line took 37 s."""
    from tpdoctor.deploy.dockerrun import parse_run_text

    text = "; ".join(f"docker run img{i}" for i in range(2000)) + " # " + "x" * (4 << 20) + "\n"
    assert _took(parse_run_text, text, "s.sh") < 3.0
    model = parse_run_text("docker run a; docker run --privileged b # tpdoctor: allow security.privileged reason=lab\n",
                           "s.sh")  # fmt: skip
    model = model[0] if isinstance(model, tuple) else model
    assert [s.allows for s in model.services] == [{"security.privileged": "lab"}] * 2


def test_a_backslash_word_does_not_copy_the_rest_of_the_script() -> None:
    """split_commands matched a line continuation on `s[i:]`, a copy of the rest of the text per word starting with
    a backslash."""
    from tpdoctor.deploy.shellwords import split_commands

    text = "docker run img " + "\\a " * 20000 + "# " + "x" * (4 << 20) + "\n"
    assert _took(split_commands, text) < 2.0
    cmds = split_commands("docker run \\\n  --privileged img \\  \n  x\n")
    assert [w.raw for w in cmds[0].words][:4] == ["docker", "run", "--privileged", "img"]


@pytest.mark.parametrize(
    ("name", "text", "what"),
    [
        ("s.sh", "; ".join(f"docker run img{i}" for i in range(10_001)) + "\n", "container commands"),
        ("compose.yaml", "services:\n" + "".join(f"  s{i}: {{image: x}}\n" for i in range(10_001)), "services"),
    ],
    ids=["script", "compose"],
)
def test_over_ten_thousand_services_is_refused(tmp_path: Path, name: str, text: str, what: str) -> None:
    """No cap on the services of one file: 20,000 `docker run`s on one line took minutes (~3 ms each in the rules; an
    8 MiB script holds 250,000). Over 10,000: one line, exit 2."""
    f = tmp_path / name
    f.write_text(text)
    code, out = invoke("audit", str(f))
    assert code == 2 and f"over 10000 {what}" in out and "Traceback" not in out, out[-500:]
    assert len(out.splitlines()) == 1
    f.write_text("; ".join(f"docker run --privileged img{i}" for i in range(300)) + "\n")
    code, out = invoke("audit", str(f))
    assert code == 4, out[-500:]


def test_kubernetes_workload_lines_are_found_by_bisection(tmp_path: Path) -> None:
    """Each workload scanned every workload's first line for the next one: quadratic in the workloads."""
    from tpdoctor.deploy.io import read_only_trees
    from tpdoctor.deploy.kubernetes import parse_kubernetes

    text = "".join(
        f"---\n{{apiVersion: v1, kind: Pod, metadata: {{name: p{i}}}, spec: {{containers: [{{name: c, image: x}}]}}}}\n"
        f"# tpdoctor: allow security.privileged reason=r{i}\n"
        for i in range(3)
    )
    with read_only_trees():
        model, _ = parse_kubernetes(text, "k.yaml", validate=False)
    assert [s.allows for s in model.services] == [{"security.privileged": f"r{i}"} for i in range(3)]


def test_a_base64_docker_config_is_hidden() -> None:
    """A kubernetes.io/dockerconfigjson Secret's `.dockerconfigjson` (base64 of `{"auths": {"r": {"auth": base64 of
    user:password}}}`) was printed: the key is no secret name and the value no known token shape."""
    import base64

    from tpdoctor.redact import redact_line, redact_text

    for raw in (b'{"auths":{"registry.example.com":{"auth":"dXNlcjpwYXNz"}}}',
                b'{\n  "auths": {\n    "r.io": {"auth": "dXNlcjpwYXNz"}\n  }\n}\n',
                b'{\n\t"auths": {\n\t\t"r.io": {\n\t\t\t"auth": "dXNlcjpwYXNz"\n\t\t}\n\t}\n}'):  # fmt: skip
        value = base64.b64encode(raw).decode()
        for line in (f"  .dockerconfigjson: {value}", f'{{".dockerconfigjson":"{value}"}}', f"pull secret {value} set"):
            assert value not in redact_line(line) and value not in redact_text(line + "\n"), line
            assert "<redacted>" in redact_line(line)
    for line in ("a jewel newoption", "eyJhbGciOiJIUzI1NiJ9 alone", "ewok"):
        assert redact_line(line) == line


def test_an_error_line_naming_a_secret_looking_file_keeps_its_words(tmp_path: Path) -> None:
    """`check --root` on a root whose /etc/passwd is a FIFO printed `could not read: /etc/passwd: <redacted> a regular
    file`: the file name read as a secret key and the message's first word as its value (NCCL's conf line count too)."""
    import os

    from tpdoctor.redact import redact_line

    assert redact_line("/etc/passwd: not a regular file (FIFO)") == "/etc/passwd: not a regular file (FIFO)"
    assert redact_line("/etc/passwd: 4096 settings; the first") == "/etc/passwd: 4096 settings; the first"
    # a value after a path's secret name that is no plain word of a sentence is still hidden
    assert redact_line("/run/secrets/db_password: Walrus77 loaded") == "/run/secrets/db_password: <redacted> loaded"
    assert redact_line("/run/x/password: Walrus77") == "/run/x/password: <redacted>"
    root = _root_with_env(tmp_path, {"USER": "u"})
    (root / "etc/passwd").unlink()
    os.mkfifo(root / "etc/passwd")
    code, out = invoke("check", "--root", str(root))
    assert code in (0, 3, 4)
    assert "/etc/passwd: not a regular file" in out, out


def test_a_run_of_dashes_before_a_quoted_command_is_linear() -> None:
    """logquote's prompt pattern gave back its run of marks one at a time and tried each `-` as a user name
    (`[\\w.-]+@`) to the run's end: 16 KiB of dashes before `docker run` (explain's capture span) took 0.8 s per
    command, a 64 KiB line 13 s."""
    from tpdoctor.deploy.logquote import _PROMPT

    assert _took(_PROMPT.match, "-" * 65536 + "!") < 0.5
    for prompt in ("$ ", "root@h:~# ", "[me@box dir]$ ", "bash-5.1# ", "(venv) me@h:~/x$ ", "➜  dir git:(main) ✗ ",
                   "==>>> ", "+ ", "-user@h:~$ "):  # fmt: skip
        assert _PROMPT.match(prompt), prompt
    assert not _PROMPT.match("some prose ")
