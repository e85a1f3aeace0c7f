"""gsafe47: hostile-input pass (docs/security.md, ### gsafe47). Each test failed on the tree before its fix."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from test_safety_fuzz import invoke
from tpdoctor.redact import redact_line


# -- the redactor: a secret's name is not its value ----------------------------------------------------------------------
def test_a_bare_container_secret_name_is_no_secret() -> None:
    """`podman run --secret mysecret img` printed `--secret <redacted>`: podman's `--secret` takes the secret's name."""
    for line in (
        "podman run --secret mysecret img",
        "podman run --secret=mysecret img",
        "docker service create --secret db_password img",
        'podman run --secret "mysecret" img',
        "podman run -e A=1 --secret hf img",
    ):
        assert redact_line(line) == line, line
    # without a container engine before it (in the same shell command) a `--secret` flag's value is still hidden
    assert redact_line("myapp --secret Walrus77Pelican") == "myapp --secret <redacted>"
    assert redact_line("docker run x; app --secret Walrus77") == "docker run x; app --secret <redacted>"
    assert redact_line("docker run img | app --secret Walrus77") == "docker run img | app --secret <redacted>"
    assert redact_line("--secret=Walrus77Pelican") == "--secret=<redacted>"
    # and a secret value on the same line still goes
    assert (
        redact_line("podman run -e DB_PASSWORD=Walrus77 --secret mysecret img")
        == "podman run -e DB_PASSWORD=<redacted> --secret mysecret img"
    )


# -- audit: which format a file is -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "text",
    [
        '"services":\n  a: {image: x, privileged: true, labels: {apiVersion: v1, kind: Pod}}\n',
        "'services':\n  a:\n    image: x\n    privileged: true\n    labels: {apiVersion: v1, kind: Pod}\n",
        "services:\n  a:\n    image: x\n    privileged: true\n    labels:\n      apiVersion: v1\n      kind: Pod\n",
    ],
)
def test_compose_with_apiversion_and_kind_labels_is_compose(tmp_path: Path, text: str) -> None:
    """A compose file (`"services":` quoted, or a service's labels holding apiVersion and kind) was read as Kubernetes:
    `no Pod, Deployment, … found`, exit 2, and its privileged service was never audited."""
    f = tmp_path / "compose.yaml"
    f.write_text(text)
    code, out = invoke("audit", str(f))
    assert code == 4 and "a runs privileged" in out, out


def test_a_manifest_is_still_kubernetes(tmp_path: Path) -> None:
    f = tmp_path / "pod.yaml"
    f.write_text("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - name: c\n    image: x\n")
    code, out = invoke("audit", str(f))
    assert code in (0, 3, 4) and "no services" not in out, out


# -- audit: compose `extends` ------------------------------------------------------------------------------------------
def test_compose_extends_is_said_not_followed_and_a_cycle_is_named(tmp_path: Path) -> None:
    """`extends` is not followed: a cycle `a -> b -> a` (Compose refuses the file) and inherited settings passed
    silently."""
    f = tmp_path / "compose.yaml"
    f.write_text(
        "services:\n  a:\n    image: x\n    extends: b\n  b:\n    image: y\n    extends: {service: a}\n"
        "  c:\n    extends: {service: base, file: common.yml}\n  d:\n    image: z\n  e:\n    extends: d\n"
    )
    code, out = invoke("audit", str(f))
    assert code == 0, out
    assert "services a -> b -> a: an extends cycle" in out, out
    assert "service c extends base of common.yml: not followed" in out, out
    assert "service e extends d: not followed" in out, out
    code, out = invoke("audit", "--format", "json", str(f))
    assert "an extends cycle" in out, out


# -- cluster check --snapshots: a link into a directory this user cannot search ---------------------------------------
@pytest.mark.skipif(os.geteuid() != 0, reason="drops to nobody and back: needs root")
def test_snapshots_link_into_unreadable_directory_keeps_context(tmp_path: Path) -> None:
    """As non-root, `--snapshots LINK/sub` with LINK pointing into a directory the user may not search raised a bare
    PermissionError: the error line lost `--snapshots` and the path given."""
    import shutil
    import tempfile

    from tpdoctor.cluster.report import prepare_snapshot_dir
    from tpdoctor.errors import InputError

    base = Path(tempfile.mkdtemp(prefix="gsafe47-"))  # tmp_path's parents are 0700: nobody could reach none of it
    base.chmod(0o755)
    try:
        _link_into_unreadable(base, prepare_snapshot_dir, InputError)
    finally:
        (base / "priv").chmod(0o700)
        shutil.rmtree(base)


def _link_into_unreadable(tmp_path: Path, prepare_snapshot_dir: Any, InputError: Any) -> None:
    priv = tmp_path / "priv"
    (priv / "inner").mkdir(parents=True)
    priv.chmod(0o700)
    link = tmp_path / "lnk"
    link.symlink_to(priv / "inner")
    for target in (link / "sub", link):
        os.setresgid(65534, 65534, 0)
        os.setresuid(65534, 65534, 0)
        try:
            with pytest.raises(InputError) as exc:
                prepare_snapshot_dir(target)
        finally:
            os.setresuid(0, 0, 0)
            os.setresgid(0, 0, 0)
        assert f"--snapshots {target}" in str(exc.value) and "Permission denied" in str(exc.value), exc.value


# -- the redactor: exec-form argv lists --------------------------------------------------------------------------------
def test_a_secret_flag_and_its_value_as_list_items_are_hidden() -> None:
    """`command: ["--api-key", "x"]` (compose, a Dockerfile's CMD, a printed sys.argv) and `args: [--api-key, x]`
    printed the value: the flag's separator is `", "`."""
    cases = {
        'command: ["--api-key", "Walrus00ApiKey"]': 'command: ["--api-key", "<redacted>"]',
        "args: ['--api-key', 'Walrus00ApiKey', '--port', '8000']": "args: ['--api-key', '<redacted>', '--port', '8000']",
        "args: [--api-key, Walrus00ApiKey, --port, 80]": "args: [--api-key, <redacted>, --port, 80]",
        'CMD ["vllm", "serve", "--hf-token", "Walrus 00"]': 'CMD ["vllm", "serve", "--hf-token", "<redacted>"]',
        '{\\"args\\": [\\"--api-key\\", \\"Walrus00\\"]}': '{\\"args\\": [\\"--api-key\\", \\"<redacted>\\"]}',
    }
    for line, want in cases.items():
        assert redact_line(line) == want, line
    for line in (
        'args: ["--tokenizer", "meta/llama"]',  # no secret flag
        "args: [--api-key, --port, 8]",  # the next item is a flag
        "use --api-key, which is good",  # prose: no list
        'args: ["--api-key-file", "/run/secrets/key"]',  # where the secret lives
    ):
        assert redact_line(line) == line, line


def test_a_secret_flag_alone_on_a_list_line_hides_the_next_item() -> None:
    """Kubernetes `args:` / compose `command:` written one item a line: `- --api-key` then `- Walrus`: the value was
    printed in `--fix` diffs and quoted lines."""
    from tpdoctor.redact import redact_text

    assert redact_text("args:\n  - --api-key\n  - Walrus00ApiKey\n  - --port\n") == (
        "args:\n  - --api-key\n  - <redacted>\n  - --port\n"
    )
    assert redact_text('    - "--hf-token"\n    - "Walrus 00"\n') == '    - "--hf-token"\n    - "<redacted>"\n'
    assert redact_text('"args": [\n  "--api-key",\n  "Walrus00",\n  "--port"]\n') == (
        '"args": [\n  "--api-key",\n  "<redacted>",\n  "--port"]\n'
    )
    assert redact_text(" args:\n-  - --api-key\n-  - Walrus00\n+  - --port\n") == (
        " args:\n-  - --api-key\n-  - <redacted>\n+  - --port\n"
    )
    # a block big enough for the one-pass hint scan
    big = "x = 1\n" * 60000 + "  - --api-key\n  - Walrus00ApiKey\n"
    assert redact_text(big).endswith("  - --api-key\n  - <redacted>\n")


def test_audit_fix_diff_hides_a_manifest_args_secret(tmp_path: Path) -> None:
    f = tmp_path / "pod.yaml"
    f.write_text(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - name: c\n    image: vllm/vllm-openai\n"
        "    args:\n    - --api-key\n    - Walrus00ApiKey\n    - \"--hf-token\"\n    - \"Walrus11 Tok\"\n"
        "    securityContext:\n      privileged: true\n"
    )
    _, out = invoke("audit", "--fix", str(f))
    assert "Walrus" not in out and "<redacted>" in out, out
    f = tmp_path / "compose.yaml"
    f.write_text(
        "services:\n  a:\n    image: vllm/vllm-openai\n    privileged: true\n"
        '    command: ["--api-key", "Walrus00ApiKey"]\n'
    )
    for fmt in ("text", "json"):
        _, out = invoke("audit", "--fix", "--format", fmt, str(f))
        assert "Walrus" not in out, out


# -- the redactor: what else was printed, and what was hidden for nothing --------------------------------------------
def test_a_list_of_secrets_is_hidden_whole() -> None:
    """vLLM's `non-default args: {'api_key': ['x']}` (api_key is a list) printed `'api_key': <redacted>'x']`."""
    cases = {
        "non-default args: {'api_key': ['Walrus77'], 'model': 'x'}": (
            "non-default args: {'api_key': [<redacted>], 'model': 'x'}"
        ),
        "'api_key': ['Walrus77', 'Second88']": "'api_key': [<redacted>]",
        'api_key=["Walrus77"]': "api_key=[<redacted>]",
        "tokens: []": "tokens: []",
    }
    for line, want in cases.items():
        assert redact_line(line) == want, line


def test_camel_case_key_names_and_azure_connection_strings() -> None:
    """Azure's `AccountKey=` / `SharedAccessKey=` and camelCase `accountKey:`, `masterKey:` were printed."""
    line = "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=Walrus77+/abc==;EndpointSuffix=core.windows.net"
    assert redact_line(line) == line.replace("Walrus77+/abc==", "<redacted>")
    line = "Endpoint=sb://x.servicebus.windows.net/;SharedAccessKeyName=Root;SharedAccessKey=Walrus77="
    assert redact_line(line) == line.replace("Walrus77=", "<redacted>")
    for key in ("accountKey", "masterKey", "subscriptionKey", "encryptionKey"):
        assert redact_line(f"{key}: Walrus77") == f"{key}: <redacted>", key
    for line in ("monkey: banana", "hotkey: F5", "keyboard: us", "AccountName=acct"):
        assert redact_line(line) == line, line


def test_no_value_and_paths_of_secrets_stay_visible() -> None:
    """`Namespace(hf_token=None)` printed `hf_token=<redacted>` (an unset token explains a 401), and a flag naming
    where a secret lives (`--token-file /run/x`) hid the path, while `TOKEN_FILE=/run/x` kept it."""
    for line in (
        "INFO args: Namespace(model='m', hf_token=None)",
        "api_key: null",
        "vllm serve m --token-file /run/secrets/hf",
        "--api-key-path /etc/key --hf-token-dir /x",
    ):
        assert redact_line(line) == line, line
    assert redact_line("password: Nonesuch") == "password: <redacted>"
    assert redact_line("--api-key Walrus77") == "--api-key <redacted>"


# -- audit: hostile sizes that were quadratic -------------------------------------------------------------------------
def _took(fn: Any, *args: Any) -> float:
    import time

    t = time.perf_counter()
    fn(*args)
    return time.perf_counter() - t


def test_detect_format_is_linear_on_blank_lines_and_separator_runs() -> None:
    """`^\\s*` and `(?:^|;)\\s*…(?:\\S*/)?docker` went from every line start over every blank line below it (20,000 blank
    lines: 87 s, an 8 MiB file of them hours) and from every `;` over the rest of a `;;;;` run (64 KiB: 30 s)."""
    from tpdoctor.deploy.audit import _RUN, detect_format

    for text in ("\n" * 20000, "\t\n" * 10000, ";" * 65536, "&" * 65536, "(" * 65536):
        assert _took(detect_format, text + "\nservices:\n  a: {image: x}\n", "x.yaml") < 1.0, repr(text[:4])
    # the same commands are found
    for line in ("docker run x", "  $ sudo -E /usr/bin/docker  run x", "x; podman container run y", "if a; then docker run x"):
        assert _RUN.search(line), line
    assert detect_format("echo a|nerdctl run img\n", "x.txt") == "docker"


def test_a_long_comment_line_in_compose_is_fast(tmp_path: Path) -> None:
    """`#.*\\bpodman-compose\\b` per line: a 16 KiB comment of `#` took 16 s (64 KiB: minutes)."""
    from tpdoctor.deploy.compose import parse_compose

    text = "services:\n  a:\n    image: x\n# " + "#" * 65536 + "\n"
    assert _took(parse_compose, text, "c.yaml", False) < 2.0
    model, _ = parse_compose("services:\n  a:\n    image: x\n# run with Podman-Compose up\n", "c.yaml", False)
    assert model.compose_impl == "podman-compose" and model.compose_impl_line == 4
    model, _ = parse_compose("services:\n  a:\n    image: x  # podman-compose\n", "c.yaml", False)
    assert model.compose_impl == "podman-compose"
    model, _ = parse_compose("services:\n  a:\n    image: podman-compose # x\n", "c.yaml", False)
    assert model.compose_impl is None


def test_devcontainer_references_are_resolved_in_linear_time() -> None:
    """`${localEnv: ` repeated in a 64 KiB value: each reference went over the rest of the value for its `}` (25 s)."""
    from tpdoctor.deploy.devcontainer import resolve_vars

    assert _took(resolve_vars, "${localEnv: " * 5461) < 1.0
    assert _took(resolve_vars, "}" + "${localEnv:a:" * 5000) < 1.0
    assert resolve_vars("a ${localEnv:X:def} b ${env:Y} c ${containerEnv:Z") == "a def b ${Y} c ${containerEnv:Z"


def test_an_allow_comment_is_parsed_in_linear_time() -> None:
    """`# tpdoctor: allow ____…` (64 KiB): the cause pattern went over the rest of the run from each `_` (31 s)."""
    from tpdoctor.deploy.exceptions import parse_allow_body

    for body in ("_" * 65536, "a." * 32768 + " x", "a.b reason=x" + " " * 65536 + "y", "-" * 65536 + "."):
        assert _took(parse_allow_body, body) < 1.0, body[:8]
    assert parse_allow_body("security.privileged reason=lab box; shm.too-small reason=x") == (
        {"security.privileged": "lab box", "shm.too-small": "x"},
        [],
    )
    assert parse_allow_body(".security.privileged reason=a;x.y") == (
        {"security.privileged": "a"},
        ["allow x.y ignored: it needs reason=<why>"],
    )


def test_text_markup_of_a_backslash_run_is_linear(tmp_path: Path) -> None:
    """A compose service named with 16 KiB of backslashes took 24 s to print (escape() and plain(): `(\\\\*)` from every
    backslash of the run), and on a terminal 9 s more in rich's own parser (the same pattern)."""
    import rich.markup

    from tpdoctor.render.text import _TAGS, _linear_rich_tags, escape, plain

    run = "\\" * 65536
    assert _took(escape, run) < 1.0 and _took(plain, run) < 1.0
    assert plain(escape("a\\[bold]b[/] \\\\[x]")) == "a\\[bold]b[/] \\\\[x]"
    _linear_rich_tags()
    assert rich.markup.RE_TAGS is _TAGS
    assert _took(rich.markup.render, run) < 1.0
    assert rich.markup.render("[bold]a[/bold] \\[b]").plain == "a [b]"
    f = tmp_path / "compose.yaml"
    f.write_text("services:\n  ? '" + "\\" * 16384 + "'\n  : {image: x, privileged: true}\n")
    assert _took(invoke, "audit", str(f)) < 10.0


def test_a_cluster_suffix_after_a_blank_run_is_linear() -> None:
    """`explain` on one line of 64 KiB blanks ending in `cluster]` took 60 s: `\\s*\\[repeated …\\]$` from every blank."""
    from tpdoctor.explain.normalize import strip_prefixes

    assert _took(strip_prefixes, "RuntimeError: boom" + " " * 65536 + "cluster]") < 1.0
    assert strip_prefixes("RuntimeError: boom \t [repeated 3x across cluster]") == "RuntimeError: boom"
    assert strip_prefixes("a cluster]") == "a cluster]"


def test_nccl_interfaces_of_a_hostile_rank_line_are_linear() -> None:
    """A rank's `NCCL INFO NET/Socket : Using ` followed by 64 KiB of `-` took 160 s in cluster verify's localizer."""
    from tpdoctor.cluster.localize import _NCCL_IFACE

    assert _took(_NCCL_IFACE.findall, "-" * 65536) < 1.0
    assert _took(_NCCL_IFACE.findall, "a:0" * 21000) < 1.0
    assert _NCCL_IFACE.findall("[0]eth0:10.0.0.1<0> [1]ib0:10.1.0.1<0>") == ["eth0", "ib0"]
    assert _NCCL_IFACE.findall("eth0:10.0.0.1<0>") == ["eth0"]


def test_a_deeply_nested_quoted_command_does_not_refuse_the_log(tmp_path: Path) -> None:
    """A log line quoting `docker run … ${${${…` (thousands deep) made `explain` refuse the whole log (`input nested too
    deeply`, exit 2); `audit` of such a script said so without naming the file."""
    log = tmp_path / "run.log"
    log.write_text(
        "docker run --gpus all img " + "${" * 21000 + "\nNCCL WARN Call to connect returned Connection refused\n"
    )
    code, out = invoke("explain", str(log))
    assert code in (0, 3, 4) and "nested too deeply" not in out and "read 2 lines" in out, out[-500:]
    script = tmp_path / "run.sh"
    script.write_text("docker run --privileged img " + "${" * 20000 + "}" * 20000 + "\n")
    code, out = invoke("audit", str(script))
    assert code == 2 and f"{script}: expansions nested too deeply" in out, out[-500:]
