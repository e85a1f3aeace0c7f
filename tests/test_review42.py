"""review42: bugs found reviewing gsafe42 and the lead's commits. Each test names the input and what it did before."""

from __future__ import annotations

import gzip
import json
import re
import time
from pathlib import Path

import pytest
import yaml

from test_safety_fuzz import _check, invoke


# -- deploy/fix.py: the fix diff -------------------------------------------------------------------------------------
def test_a_removed_line_starting_with_two_dashes_still_hides_its_secret(tmp_path: Path) -> None:
    """hide_values skipped every diff line starting with `---` or `+++` as a file header: a script line written at
    column 0 (`--privileged --env "DB_PASSWORD=Hunter2 TwoWordsX" \\`) removed by the fix is `---privileged …` in
    the diff, and the value's second word was printed (the line redactor takes the first word only)."""
    script = tmp_path / "run.sh"
    script.write_text(
        'docker run --gpus all \\\n--privileged --env "DB_PASSWORD=Hunter2 TwoWordsX" \\\n'
        "vllm/vllm-openai --tensor-parallel-size 2\n"
    )
    code, out = invoke("audit", "--fix", str(script))
    _check(code, out, "audit --fix")
    assert "---privileged --env" in out and "TwoWordsX" not in out, out
    assert f"--- {script}\n+++ {script} (least privilege)\n" in out  # the headers stay as they are


def test_a_diff_marks_only_a_missing_final_newline() -> None:
    """unified_diff split lines as str.splitlines() does (also at U+2028, U+0085, form feeds, a lone CR) and added
    GNU diff's `\\ No newline at end of file` after every piece that did not end in `\\n`: a label holding U+2028 got
    the marker in the middle of the file, and the patch no longer applied."""
    from tpdoctor.deploy.fix import unified_diff

    old = 'a: 1\nlabels: {note: "x\u2028y"}\nc: 3\n'
    new = 'a: 2\nlabels: {note: "x\u2028y"}\nc: 3\n'
    diff = unified_diff("f", old, new)
    assert "No newline" not in diff, diff
    assert ' labels: {note: "x\u2028y"}\n' in diff
    cr = unified_diff("f", "a\rb\n", "a\rc\n")
    assert "No newline" not in cr and "-a\rb\n+a\rc\n" in cr, cr
    # the real case keeps its marker
    assert unified_diff("f", "a\nb", "a\nc").endswith("-b\n\\ No newline at end of file\n+c\n\\ No newline at end of file\n")


# -- deploy/io.py: a JSON file written back with its own lines -------------------------------------------------------
def _pod(env: int) -> dict[str, object]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p"},
        "spec": {
            "containers": [
                {
                    "name": "vllm",
                    "image": "vllm/vllm-openai",
                    "args": ["--tensor-parallel-size", "2"],
                    "env": [{"name": f"V{i}", "value": "x"} for i in range(env)],
                    "securityContext": {"privileged": True},
                    "resources": {"limits": {"nvidia.com/gpu": 2}},
                }
            ]
        },
    }


def test_a_long_json_file_is_spliced_in_linear_time() -> None:
    """(Found here too; fixed by gsafe42's f4ad05dc, kept as a regression test.) _json_spliced aligned the file with json.dumps of its tree, and that with the fixed tree, by SequenceMatcher
    with autojunk off: quadratic in the repeats of a line (`},`, `"value": "x"`): a 24k-line pod took 90 s in it (the
    whole `audit --fix` 2 min; json.dumps of the whole tree, before, took milliseconds)."""
    from tpdoctor.deploy.io import _json_spliced

    pod = _pod(4000)
    text = json.dumps(pod, indent=2) + "\n"
    fixed = json.loads(text)
    fixed["spec"]["containers"][0]["args"] = ["--tensor-parallel-size", "2", "--x"]  # before the env list
    fixed["spec"]["containers"][0]["securityContext"] = {"allowPrivilegeEscalation": False}  # after it
    t = time.perf_counter()
    out = _json_spliced(text, fixed, "  ")
    assert time.perf_counter() - t < 2.0
    assert out == json.dumps(fixed, indent=2) + "\n"
    # a file spelled otherwise on its untouched lines keeps them, also when long
    odd = text.replace('"name": "V7"', '"name": "\\u0056\\u0037"').replace('"name": "V3990"', '"name":"V3990"')
    t = time.perf_counter()
    out = _json_spliced(odd, fixed, "  ")
    assert time.perf_counter() - t < 2.0
    assert '"name": "\\u0056\\u0037"' in out and '"name":"V3990"' in out and '"--x"' in out
    assert json.loads(out) == fixed


# -- explain/reader.py: a gzipped log's size --------------------------------------------------------------------------
def test_a_gzipped_logs_size_hint_is_its_compressed_size(tmp_path: Path) -> None:
    """(Found here too; fixed by gsafe42's bfbe8a5d, kept as a regression test.) size_hint (which decides whether a big log is scanned by the forked workers) says it gives a gzip stream's
    compressed size; the gzip cap wrapped the GzipFile in two raw streams without fileno(), so it said 0 and a large
    gzipped log was never scanned in parallel any more."""
    from tpdoctor.explain.reader import open_log, size_hint

    path = tmp_path / "a.log.gz"
    with gzip.open(path, "wb") as f:
        f.write(b"NCCL WARN Cuda failure 'out of memory'\n" * 1000)
    with open_log(str(path)) as stream:
        assert size_hint(stream) == path.stat().st_size
        assert stream.read().count(b"\n") == 1000


# -- redact.py: a long run of word characters --------------------------------------------------------------------------
def test_a_long_word_on_a_line_with_a_secret_word_is_redacted_in_linear_time(tmp_path: Path) -> None:
    """_KEYSEP's key (`[A-Za-z_][A-Za-z0-9_.-]*` before `=`/`:`) was tried from every character of a run of word
    characters and ran to its end each time: quadratic. A log line `NCCL WARN ... auth_token xxxx…` (20k `x`, a
    base64 blob) kept `explain` busy for 30 s of CPU (clip() redacts the whole line before it cuts it); 64 KiB lines
    are read whole."""
    from tpdoctor.redact import redact_line

    for line in ("auth_token " + "x" * 60_000, "token " + "x1" * 30_000, "--token " + "-x" * 30_000 + " v"):
        t = time.perf_counter()
        redact_line(line)
        assert time.perf_counter() - t < 3.0, line[:20]  # 6 minutes for the first before
    log = tmp_path / "long.log"
    log.write_text("NCCL WARN Cuda failure 'out of memory' auth_token " + "x" * 20_000 + "\n")
    t = time.perf_counter()
    code, out = invoke("explain", str(log), "--format", "json")
    _check(code, out, "explain")
    assert time.perf_counter() - t < 5.0
    # the shapes still read: a key glued after digits, a long dotted key, a flag
    assert redact_line("1password=Hunter2x") == "1password=<redacted>"
    assert redact_line("app.db.password: Hunter2x") == "app.db.password: <redacted>"
    assert redact_line("x --hf-token Hunter2x y") == "x --hf-token <redacted> y"
    assert redact_line("a" * 300 + "_PASSWORD=Hunter2x").endswith("_PASSWORD=<redacted>")


# -- signatures.yaml (gnew42): docker.runtime-nvidia-no-visible-devices -----------------------------------------------
def test_the_runtime_nvidia_signature_is_linear_on_a_line_of_many_docker_runs() -> None:
    """Its two lookaheads (`(?=[^\\n]*?--runtime=nvidia)(?![^\\n]*?--gpus…)`) read the rest of the line from every
    `docker run` on it: a 64 KiB line of 5800 `docker run ` ending in `--runtime=nvidia --gpus all` took 50 s in
    search() (and 6 s with `--runtime=nvidia` first); the literal prefilter lets such a line through."""
    from tpdoctor.explain.signatures import knowledge_base

    sig = next(s for s in knowledge_base().signatures if s.id == "docker.runtime-nvidia-no-visible-devices")
    for line in ("docker run " * 5800 + "--runtime=nvidia --gpus all", "--runtime=nvidia " + "docker run " * 5800):
        t = time.perf_counter()
        assert sig.regex.search(line) is None
        assert time.perf_counter() - t < 2.0
    # what it reads still reads
    assert sig.regex.search("docker run -d --name emby --runtime=nvidia -e X=" + "y" * 1500 + " emby/embyserver")
    assert not sig.regex.search("docker run --runtime=nvidia -e X=" + "y" * 1500 + " --gpus all ubuntu")


# --- the lead, after review42: run-command facts read up to the next run command (were quadratic) ---------------


_RUN_FACTS = ("container-nonroot-user", "docker-run-gpus-flag", "podman-sudo-cdi-run", "docker-run-nvidia-device-flags",
              "nvml-nonroot-user", "gpus-smi-probe", "cpu.allocation-limited", "g41c-cuda35-windows-native")


@pytest.mark.parametrize("line", [
    "podman run " * 6000,
    "docker run " * 6000,
    "sudo podman run " * 4000,
    "docker run -v /x:/y " * 3000 + " --device /dev/nvidia0",
    "docker run --gpus all " * 3000,
    "docker run --cpus=2 -x " * 3000,
    "insufficient for CUDA runtime version " * 1700,
])
def test_run_command_facts_are_linear_on_hostile_lines(line: str) -> None:
    data = yaml.safe_load((Path(__file__).resolve().parents[1] / "src/tpdoctor/data/signatures.yaml").read_text())
    pats = {e["id"]: e["pattern"] for sec in ("signatures", "facts") for e in data[sec] if e.get("id") in _RUN_FACTS}
    assert set(pats) == set(_RUN_FACTS)
    for fid, pat in pats.items():
        rx = re.compile(pat)
        start = time.perf_counter()
        rx.search(line)
        assert time.perf_counter() - start < 0.5, fid  # 2-8.9 s per such line before (review42, the lead)


@pytest.mark.parametrize(("text", "group", "value"), [
    ("$ docker run --rm --gpus all nvidia/cuda nvidia-smi", "docker_gpus_flag", "all"),
    ("docker run -it docker.io/x:y; podman run --user 1000 img", "container_nonroot_user", None),
    ("sudo podman run --rm --device nvidia.com/gpu=all ubuntu", "podman_sudo_cdi_run", "nvidia.com/gpu=all"),
    ("docker run -v /a:/b --device /dev/nvidia0 --device /dev/nvidiactl img", "docker_nvidia_device_flag", "/dev/nvidia0"),
    ("docker run --rm --gpus all nvidia/cuda:12.2.0-base-ubuntu22.04 nvidia-smi", "gpus_smi_probe", "nvidia-smi"),
    ("sudo docker run -u 1000:1000 --gpus all img", "nvml_nonroot", None),
    ("C:\\src\\lc0\\cuda.cc(67): CUDA driver version is insufficient for CUDA runtime version", "cuda35_windows_native", None),
])
def test_run_command_facts_still_read_their_flags(text: str, group: str, value: str | None) -> None:
    data = yaml.safe_load((Path(__file__).resolve().parents[1] / "src/tpdoctor/data/signatures.yaml").read_text())
    pat = next(e["pattern"] for sec in ("signatures", "facts") for e in data[sec] if f"{group}>" in e.get("pattern", ""))
    m = re.search(pat, text)
    assert m and m.group(group), (group, text)
    if value:
        assert m.group(group) == value


def test_an_output_path_that_is_a_device_is_never_opened(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """review42's lead: open_output opened an existing device for writing before judging it (a watchdog node starts its
    timer on open); now a path that names anything but a regular file is refused before any open."""
    import os
    import stat as stat_mod

    from tpdoctor import safewrite

    node = tmp_path / "watchdog"
    os.mknod(node, stat_mod.S_IFCHR | 0o600, os.makedev(1, 3))  # a character device (null's numbers), as root
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    opened: list[str] = []
    real_open = os.open

    def spy(path: object, *args: object, **kw: object) -> int:
        opened.append(str(path))
        return real_open(path, *args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(safewrite.os, "open", spy)
    for target in (node, fifo):
        with pytest.raises(OSError):
            safewrite.open_output(target)
        assert str(target) not in opened
    fd = safewrite.open_output(tmp_path / "new.json")  # a new file is still created
    os.close(fd)
    assert (tmp_path / "new.json").is_file()
