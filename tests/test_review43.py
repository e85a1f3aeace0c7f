"""review43: review of gsafe43, gnew43, gperf43 and main's b2931d18 (docs/security.md)."""

from __future__ import annotations

from pathlib import Path

from test_safety_fuzz import _check, invoke

_HEAD = (
    "services:\n  v:\n    image: vllm/vllm-openai\n    privileged: true\n    command: --tensor-parallel-size 2\n"
    "    environment:\n"
)


def _fix_diff(tmp_path: Path, env: str) -> str:
    path = tmp_path / "compose.yaml"
    path.write_text(_HEAD + env)
    code, out = invoke("audit", "--fix", str(path))
    _check(code, out, "audit --fix")
    return out


# -- --fix diffs: a several-word secret over lines (gsafe43's hide_values) ---------------------------------------------
def test_a_fix_diff_hides_a_secret_continuation_line_that_ends_in_a_comment(tmp_path: Path) -> None:
    """A plain scalar going on below its key ends at a comment: the line `Walrus77yz Pelican42x  # rotate` holds a word
    that is not the value's (`#`), so gsafe43 printed it whole; before gsafe43 its 8+ character words were starred."""
    out = _fix_diff(tmp_path, "      DB_PASSWORD: Quokka42xy Lantern42x\n        Walrus77yz Pelican42x  # rotate monthly\n")
    for secret in ("Quokka42xy", "Lantern42x", "Walrus77yz", "Pelican42x"):
        assert secret not in out, out
    assert "         <redacted>  # rotate monthly\n" in out, out


def test_a_fix_diff_hides_the_rest_of_a_list_entry_secret_over_lines(tmp_path: Path) -> None:
    """`- DB_PASSWORD=correct horse` then `battery staple`: the line redactor takes the bare value's first word only,
    so `horse` was printed."""
    out = _fix_diff(tmp_path, "      - DB_PASSWORD=correct horse\n        battery staple\n      - MODE=x\n")
    for secret in ("correct", "horse", "battery", "staple"):
        assert secret not in out, out
    assert "       - DB_PASSWORD=<redacted>\n         <redacted>\n       - MODE=x\n" in out, out


def test_a_fix_diff_keeps_other_lines_holding_a_word_of_the_secret(tmp_path: Path) -> None:
    """A line holding only words of a several-word secret was starred wherever it was: `MODE: horse` (another
    variable's value) printed as `MODE: <redacted>`, a list item `- staple` away from the value too."""
    out = _fix_diff(
        tmp_path,
        "      DB_PASSWORD: \"correct horse\n        battery staple\"\n      MODE: horse\n"
        "    labels:\n      - staple\n",
    )
    for secret in ("correct", "battery"):
        assert secret not in out, out
    assert "       MODE: horse\n" in out and "       - staple\n" in out, out


# -- generate: the model and image checks ------------------------------------------------------------------------------
def test_generate_refuses_a_model_or_image_ending_in_a_newline() -> None:
    """MODEL_RE and IMAGE_REF_RE end in `$`, which `re.match` also finds before a final newline: `--model
    $'meta/llama\\n'` passed and broke the compose file's header comment (`, TP=2 …` on a line of its own: the
    YAML no longer parsed), and `--image $'repo/img:v1\\n'` was written across two lines of the docker run script."""
    for args in (("--model", "meta/llama\n"), ("--image", "vllm/vllm-openai:v1\n", "--backend", "cuda")):
        code, out = invoke("generate", "--target", "compose", "--tp", "2", *args)
        assert code == 2 and out.count("\n") == 1 and out.startswith("tpdoctor: error: --"), out
    code, out = invoke("generate", "--target", "compose", "--tp", "2", "--model", "meta/llama")
    _check(code, out, "generate")


# -- explain: gnew43's patterns ------------------------------------------------------------------------------------------
def test_the_podman_socket_record_is_linear_on_a_hostile_line() -> None:
    """`\\S*podman\\.sock` was tried from every `DOCKER_HOST=unix://` of a line without blanks, each scanning to the
    line's end: 1.3 s for one 64 KiB line that holds `podman.sock` (the literal the prefilter wants)."""
    import time

    from tpdoctor.explain.signatures import knowledge_base

    sig = next(s for s in knowledge_base().signatures if s.id == "docker.host-podman-socket")
    line = ("podman.sock " + "DOCKER_HOST=unix://" * 3500)[:65536]
    t = time.perf_counter()
    assert sig.regex.search(line) is None
    assert time.perf_counter() - t < 0.25
    for ok in ("export DOCKER_HOST=unix:///run/user/1000/podman/podman.sock",
               "DOCKER_HOST='unix:///run/podman/podman.sock' docker compose up -d"):
        assert sig.regex.search(ok), ok


def test_the_autoscaler_refusal_is_linear_on_a_hostile_line() -> None:
    """gperf43 tempered the gap after `Node scale up in zones` but not the one after `associated with this pod failed: `:
    one scale-up and 2,000 such phrases on a 64 KiB line still took 0.8 s (quadratic: 0.07 s at 16 KiB)."""
    import time

    from tpdoctor.explain.signatures import knowledge_base

    sig = next(s for s in knowledge_base().signatures if s.id == "k8s.autoscaler-cloud-refused-scale-up")
    line = ("Node scale up in zones a " + "associated with this pod failed: " * 3000)[:65536]
    t = time.perf_counter()
    assert sig.regex.search(line) is None
    assert time.perf_counter() - t < 0.25
    for ok in sig.examples:
        assert sig.regex.search(ok), ok


# -- cluster: the Ray address ------------------------------------------------------------------------------------------
def test_a_ray_address_with_a_huge_port_is_an_option_error() -> None:
    """gsafe43 read the port with int() before bounding it: 5,000 digits passed isdecimal() and int() raised
    (Python's 4,300-digit limit), an internal error (exit 1) instead of the option error."""
    code, out = invoke("cluster", "check", "--address", "1.2.3.4:" + "9" * 5000)
    assert code == 2 and "internal error" not in out and out.count("\n") == 1, out[:300]
