"""gsafe41: hostile-input pass. Each test names the input that broke tpdoctor and what it did before the fix."""

from __future__ import annotations

import time
from pathlib import Path

from test_safety_fuzz import _check, invoke
from tpdoctor.facts import network
from tpdoctor.facts.collect import collect_facts

ROUTE_HEAD = "Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\tMTU\tWindow\tIRTT\n"


# -- check --root: /proc/net ---------------------------------------------------------------------------------------
def _net_root(tmp_path: Path, route: str, fib: str) -> Path:
    (tmp_path / "proc/net").mkdir(parents=True)
    (tmp_path / "sys/class/net/eth0").mkdir(parents=True)
    (tmp_path / "proc/net/route").write_text(ROUTE_HEAD + route)
    (tmp_path / "proc/net/fib_trie").write_text(fib)
    return tmp_path


def test_a_route_field_longer_than_8_hex_digits_is_skipped_not_an_internal_error(tmp_path: Path) -> None:
    """`FFFFFFFFFF` (or `-1`) as a destination made int.to_bytes raise OverflowError: exit 1 (internal error)."""
    route = "".join(
        f"eth0\t{dest}\t00000000\t0001\t0\t0\t0\t{mask}\t0\t0\t0\n"
        for dest, mask in (("FFFFFFFFFF", "00FFFFFF"), ("-1", "00FFFFFF"), ("0000000A", "-0000001"), ("0000000A", "000000FF"))
    )
    root = _net_root(tmp_path, route, "Local:\n     |-- 10.0.0.2\n        /32 host LOCAL\n")
    code, out = invoke("check", "--root", str(root), "--tp", "2", "--format", "json")
    _check(code, out, "check")
    assert network.parse_route(ROUTE_HEAD + route) == [("eth0", 0x0A000000, 0xFF000000)]


def test_many_addresses_and_routes_are_matched_in_linear_time(tmp_path: Path) -> None:
    """40k local addresses and 40k routes (3.8 MB of /proc/net) took 103 s: every route was scanned for each address
    and each address was looked up in a list of those seen. A 16 MiB file would have taken hours."""
    n = 20000
    fib = "Local:\n" + "".join(f"     |-- 10.{i >> 8 & 255}.{i & 255}.1\n        /32 host LOCAL\n" for i in range(n))
    route = "".join(f"e{i}\t{(10 | (i >> 8 & 255) << 8 | (i & 255) << 16):08X}\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n" for i in range(n))
    root = _net_root(tmp_path, route, fib)
    t = time.perf_counter()
    facts = collect_facts(root, {}, live=False)
    assert time.perf_counter() - t < 8.0  # was ~26 s at this size (quadratic)
    assert facts.network is not None
    by_name = {i.name: i.addresses for i in facts.network.interfaces}
    assert by_name["e7"] == ["10.0.7.1"] and by_name["e300"] == ["10.1.44.1"]


def test_the_most_specific_route_wins_and_odd_masks_are_ignored() -> None:
    routes = network.parse_route(
        ROUTE_HEAD
        + "wide\t0000000A\t00000000\t0001\t0\t0\t0\t000000FF\t0\t0\t0\n"
        + "narrow\t0000010A\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n"
        + "twin\t0000010A\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n"
        + "odd\t0000000A\t00000000\t0001\t0\t0\t0\t00FF00FF\t0\t0\t0\n"
    )
    assert [r[0] for r in routes] == ["wide", "narrow", "twin"]
    index = network.route_index(routes)
    assert network.interface_of("10.1.2.3", index) == "narrow"  # the first of two equal routes, as before
    assert network.interface_of("10.2.2.3", index) == "wide"
    assert network.interface_of("11.0.0.1", index) is None
    assert network.interface_of("127.0.0.1", index) == "lo"


# -- audit --fix: YAML merge keys and flow lists ----------------------------------------------------------------------
MERGED = """\
x-base: &base
  restart: always
  security_opt:
    - seccomp:unconfined
    - label:disable
  cap_add: [SYS_ADMIN, NET_ADMIN]
services:
  vllm:
    <<: *base
    image: vllm/vllm-openai
    deploy:
      resources:
        reservations:
          devices:
            - driver: nvidia
              count: 2
              capabilities: [gpu]
    shm_size: 16g
    command: --tensor-parallel-size 2
  vpn:
    <<: *base
    image: some/vpn
"""


def _fixed(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    code, out = invoke("audit", "--write", str(path))
    _check(code, out, "audit --write")
    return path.read_text()


def test_a_fix_through_a_merge_key_leaves_the_anchor_and_the_other_services(tmp_path: Path) -> None:
    """`<<: *base`: the fix for vllm removed SYS_ADMIN, seccomp:unconfined and label:disable from the anchor and added
    no-new-privileges there, so the vpn service that merges it (and that tpdoctor reported nothing about) changed."""
    from ruamel.yaml import YAML

    new = _fixed(tmp_path, "compose.yaml", MERGED)
    assert new.startswith(MERGED[: MERGED.index("services:")])  # the anchor as written
    services = YAML(typ="safe").load(new)["services"]
    assert services["vpn"]["cap_add"] == ["SYS_ADMIN", "NET_ADMIN"]
    assert services["vpn"]["security_opt"] == ["seccomp:unconfined", "label:disable"]
    assert "SYS_ADMIN" not in services["vllm"]["cap_add"] and "NET_ADMIN" in services["vllm"]["cap_add"]
    assert services["vllm"]["security_opt"] == ["no-new-privileges:true"]
    assert "    cap_add: [NET_ADMIN]\n" in new  # the inherited list's flow style is kept


def test_privileged_from_a_merge_key_is_overridden_not_reported_removed(tmp_path: Path) -> None:
    """privileged: true from the anchor: 'privileged removed' was said, the key deleted from the merged view came back
    on the next load, and the fixed file still ran privileged (with a GPU reservation added beside it)."""
    from ruamel.yaml import YAML

    text = (
        "x-gpu: &gpu\n  image: vllm/vllm-openai\n  privileged: true\n"
        "services:\n  a:\n    <<: *gpu\n    command: --tensor-parallel-size 2\n  b:\n    <<: *gpu\n"
        "    privileged: true\n    command: --tensor-parallel-size 2\n"
    )
    new = _fixed(tmp_path, "compose.yaml", text)
    services = YAML(typ="safe").load(new)["services"]
    assert services["a"]["privileged"] is False and services["b"]["privileged"] is False
    assert "x-gpu: &gpu\n  image: vllm/vllm-openai\n  privileged: true\n" in new
    code, out = invoke("audit", str(tmp_path / "compose.yaml"), "--format", "json")
    _check(code, out, "audit")
    assert "security.privileged" not in out, out


def test_an_emptied_inherited_list_stays_empty(tmp_path: Path) -> None:
    from ruamel.yaml import YAML

    text = "x-s: &s\n  security_opt: [seccomp:unconfined]\nservices:\n  a:\n    <<: *s\n    image: vllm/vllm-openai\n    privileged: false\n    gpus: all\n    shm_size: 16g\n    command: --tensor-parallel-size 2\n"
    new = _fixed(tmp_path, "compose.yaml", text)
    opts = YAML(typ="safe").load(new)["services"]["a"]["security_opt"]
    assert "seccomp:unconfined" not in opts  # deleting the own key would have brought the merged one back
    assert new.startswith("x-s: &s\n  security_opt: [seccomp:unconfined]\n")  # the anchor as written


def test_a_one_entry_mapping_in_a_flow_list_keeps_its_braces(tmp_path: Path) -> None:
    """`ports: [{containerPort: 8000}]` became `ports: [containerPort: 8000]` in a --fix of an unrelated key."""
    text = (
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: vllm}\nspec:\n  template:\n    spec:\n      containers:\n"
        "        - name: vllm\n          image: vllm/vllm-openai\n          args: [\"--tensor-parallel-size\", \"2\"]\n"
        "          ports: [{containerPort: 8000}]\n          securityContext: {privileged: true}\n"
        "          resources: {limits: {nvidia.com/gpu: 2}}\n"
    )
    new = _fixed(tmp_path, "k.yaml", text)
    assert "          ports: [{containerPort: 8000}]\n" in new
    assert "privileged: true" not in new


# -- check: NCCL configuration files and unknown variables ------------------------------------------------------------
def test_a_huge_nccl_conf_sets_a_bounded_number_of_variables(tmp_path: Path) -> None:
    """A 16 MiB /etc/nccl.conf (a million `NCCL_Xn=1` lines) became a million variables: ~6 min of difflib typo search
    and, after that, 20 s of env rules and a 175 MB --snapshot that --from-snapshot refuses (over 64 MiB)."""
    from tpdoctor.facts.nccl_conf import MAX_CONF_SETTINGS

    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/nccl.conf").write_text("NCCL_DEBUG=INFO\n" + "".join(f"NCCL_X{i}=1\n" for i in range(MAX_CONF_SETTINGS + 50)))
    facts = collect_facts(tmp_path, {}, live=False)
    assert facts.env["NCCL_DEBUG"] == "INFO"
    assert len(facts.nccl_conf) == MAX_CONF_SETTINGS and len(facts.env) <= MAX_CONF_SETTINGS
    assert any(f"the first {MAX_CONF_SETTINGS} were read (from line {MAX_CONF_SETTINGS + 1} on" in e for e in facts.errors)


def test_the_typo_search_looks_at_a_bounded_number_of_names(monkeypatch: object) -> None:
    """Every unknown NCCL_/CCL_/VLLM_ name cost ~0.3 ms of difflib: an environment or conf file of a million names took
    minutes. A typo among the first names is still found."""
    import pytest

    from tpdoctor.model import CheckOptions, Facts
    from tpdoctor.rules import env as env_rules

    assert isinstance(monkeypatch, pytest.MonkeyPatch)
    calls: list[str] = []
    real = env_rules.did_you_mean
    monkeypatch.setattr(env_rules, "did_you_mean", lambda name: calls.append(name) or real(name))
    facts = Facts(env={"CCL_ZE_IPC_EXHANGE": "drmfd", **{f"NCCL_Y{i:06d}": "1" for i in range(20000)}})
    found = list(env_rules.unknown_variables(facts, CheckOptions()))
    assert len(calls) <= env_rules.MAX_TYPO_CHECKS
    assert len(found) == 1 and "did you mean CCL_ZE_IPC_EXCHANGE" in found[0].message


# -- terminal safety ---------------------------------------------------------------------------------------------------
SHM_LOG = (
    "NCCL WARN Error while creating shared memory segment /dev/shm/nccl-xyz (size 9637888)\n"
    "RuntimeError: NCCL error in: x, unhandled system error, NCCL version 2.18.1\n"
)
UNSAFE = ("\x1b", "\x07", "\x9b", "\u202e", "\u2066", "\r")


def _safe(text: str) -> None:
    for ch in UNSAFE:
        assert ch not in text, (ch, text[-2000:])


def test_error_lines_echo_no_escape_sequence_and_stay_one_line(tmp_path: Path) -> None:
    """A file name holding `ESC ] 0 ; title BEL` (a glob over a directory someone else fills) was echoed as is by the
    error line: it retitled the terminal; one holding a newline printed a line of its own (`tpdoctor: wrote ...`)."""
    for name in ("\x1b]0;pwned\x07\x1b[2Jx.yaml", "x\ntpdoctor: wrote compose.yaml (backup b)", "\u202eldnoc.yaml"):
        for args in (("audit", str(tmp_path / name)), ("explain", str(tmp_path / name))):
            code, out = invoke(*args)
            assert code == 2, out
            _safe(out)
            assert out.count("\n") == 1 and out.startswith("tpdoctor: error: "), out


def test_bidi_controls_in_a_log_line_are_not_printed(tmp_path: Path) -> None:
    """U+202E (right-to-left override) in a quoted log line reached the terminal: it reverses what follows on
    terminals that lay out bidi text (Trojan Source); C0/C1 controls were already replaced."""
    log = tmp_path / "x.log"
    log.write_text("NCCL WARN \u202egnp.exe\u2066 \x9b2J " + SHM_LOG)
    code, out = invoke("explain", str(log), "--verbose")
    _check(code, out, "explain")
    assert "shm.too-small" in out
    _safe(out)


def test_the_fix_diff_shows_no_escape_sequence(tmp_path: Path) -> None:
    """`audit --fix` printed a script's comment `# ESC]0;pwned BEL ESC[2J` and the file's other bytes as they are."""
    script = tmp_path / "run.sh"
    script.write_text(
        "#!/bin/sh\n# \x1b]0;pwned\x07 \x1b[2J \u202eexe\r\n"
        'docker run --privileged --gpus all -e "X=\x1bc" vllm/vllm-openai --tensor-parallel-size 2\n'
    )
    code, out = invoke("audit", "--fix", str(script))
    _check(code, out, "audit --fix")
    assert "+docker run --gpus all" in out
    _safe(out)


def test_run_quotes_no_escape_sequence_from_the_crashed_job(tmp_path: Path) -> None:
    """`tpdoctor run`'s diagnosis quoted the log line with `ESC c` (a terminal reset) and `ESC ( 0` (line drawing) in
    its own `tpdoctor:` lines."""
    import io

    from tpdoctor.runner.session import stderr_say

    buf = io.StringIO()
    say = stderr_say(buf)
    say("  evidence line 1: NCCL WARN \x1bc\x1b(0\x9b2J \u202e x\r\ny")
    assert buf.getvalue().startswith("tpdoctor:   evidence line 1: NCCL WARN ") and buf.getvalue().count("\n") == 1
    _safe(buf.getvalue())


def test_utf32_logs_with_a_bom_are_decoded(tmp_path: Path) -> None:
    """UTF-32 LE's BOM (FF FE 00 00) begins with UTF-16 LE's: the log was read as UTF-16 (a NUL after every
    character) and nothing was found; UTF-32 BE was called binary data."""
    for enc in ("utf-32", "utf-32-be"):
        log = tmp_path / f"{enc}.log"
        data = SHM_LOG.encode(enc)
        log.write_bytes(data if enc == "utf-32" else b"\x00\x00\xfe\xff" + data)
        code, out = invoke("explain", str(log))
        _check(code, out, enc)
        assert "shm.too-small" in out and "UTF-32 text (BOM): decoded" in out, out


def test_a_fix_through_an_alias_leaves_the_other_user_of_the_anchor(tmp_path: Path) -> None:
    """`deploy: *d` shared with redis: the NVIDIA reservation added for vllm went into the anchor, so redis reserved
    two GPUs too."""
    from ruamel.yaml import YAML

    text = (
        "services:\n  vllm:\n    image: vllm/vllm-openai\n    privileged: true\n    deploy: &d\n      resources:\n"
        "        limits: {memory: 64g}\n    command: --tensor-parallel-size 2\n  redis:\n    image: redis\n    deploy: *d\n"
    )
    services = YAML(typ="safe").load(_fixed(tmp_path, "compose.yaml", text))["services"]
    assert services["redis"]["deploy"] == {"resources": {"limits": {"memory": "64g"}}}
    assert services["vllm"]["deploy"]["resources"]["reservations"]["devices"][0]["driver"] == "nvidia"


def test_a_kubernetes_fix_leaves_a_sidecar_that_aliases_the_security_context(tmp_path: Path) -> None:
    """`securityContext: *sc` in a sidecar: the GPU container's fix (privileged and SYS_ADMIN removed, drop ALL)
    changed the sidecar's too."""
    from ruamel.yaml import YAML

    text = (
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: vllm}\nspec:\n  selector: {matchLabels: {a: b}}\n"
        "  template:\n    metadata: {labels: {a: b}}\n    spec:\n      containers:\n"
        "        - name: vllm\n          image: vllm/vllm-openai\n          args: [\"--tensor-parallel-size\", \"2\"]\n"
        "          securityContext: &sc\n            privileged: true\n            capabilities: {add: [SYS_ADMIN]}\n"
        "          resources: {limits: {nvidia.com/gpu: 2}}\n"
        "        - name: vpn\n          image: some/vpn\n          securityContext: *sc\n"
    )
    containers = YAML(typ="safe").load(_fixed(tmp_path, "k.yaml", text))["spec"]["template"]["spec"]["containers"]
    assert containers[1]["securityContext"] == {"privileged": True, "capabilities": {"add": ["SYS_ADMIN"]}}
    assert "privileged" not in containers[0]["securityContext"]
    assert containers[0]["securityContext"]["capabilities"] == {"drop": ["ALL"]}


# -- secrets in error and schema messages -----------------------------------------------------------------------------
def test_a_duplicate_key_error_quotes_neither_value(tmp_path: Path) -> None:
    """ruamel's message `found duplicate key "DB_PASSWORD" with value "Corr3ctH0rse" (original value: "Tr0ub4dor3")`
    was the error line: both passwords printed."""
    path = tmp_path / "compose.yaml"
    path.write_text("services:\n  v:\n    image: x\n    environment:\n      DB_PASSWORD: Tr0ub4dor3\n      DB_PASSWORD: Corr3ctH0rse\n")
    for args in (("audit", str(path)), ("audit", "--fix", str(path)), ("explain", "--config", str(path), "-")):
        code, out = invoke(*args)
        assert code == 2 and 'found duplicate key "DB_PASSWORD"' in out, out
        assert "Tr0ub4dor3" not in out and "Corr3ctH0rse" not in out, out


def test_schema_messages_show_no_secret_env_value_or_secret_data(tmp_path: Path) -> None:
    """`- name: DB_PASSWORD` / `value: 98765432101` (an integer the schema refuses) was shown as
    `env[0].value: 98765432101 is an integer`: the path names no secret, so the redactor let it through; so was a
    Secret's `stringData.db: ["Tr0ub4dor3xyz"]`."""
    path = tmp_path / "k.yaml"
    path.write_text(
        "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\nstringData:\n  db: [Tr0ub4dor3xyz]\n---\n"
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n    - name: c\n"
        "      image: vllm/vllm-openai\n      args: [\"--tensor-parallel-size\", \"2\"]\n      env:\n"
        "        - name: DB_PASSWORD\n          value: 98765432101\n        - name: API_TOKEN\n          value: [Sup3rS3cretT0ken]\n"
        "        - name: WORKERS\n          value: 4\n      resources: {limits: {nvidia.com/gpu: 2}}\n"
    )
    for fmt in ("text", "json", "sarif"):
        code, out = invoke("audit", str(path), "--verbose", "--format", fmt)
        _check(code, out, fmt)
        for secret in ("98765432101", "Sup3rS3cretT0ken", "Tr0ub4dor3xyz"):
            assert secret not in out, (fmt, secret)
        assert "env[0].value" in out and "is an integer" in out
        assert "env[2].value: 4 is an integer" in out  # not a secret: shown


def test_a_secret_continued_on_the_next_shell_line_is_redacted(tmp_path: Path) -> None:
    """`-e DB_PASSWORD=\\` then `Hunter2SecretXyz \\`: the shell joins them, but the redactor saw a name without a
    value and a bare word, so the --fix diff printed the password as a context line; the same for `--db-password \\`."""
    from tpdoctor.redact import redact_text

    script = tmp_path / "run.sh"
    script.write_text(
        "docker run --privileged --gpus all \\\n  -e DB_PASSWORD=\\\nHunter2SecretXyz \\\n"
        "  vllm/vllm-openai --tensor-parallel-size 2 \\\n"
        "  --db-password \\\n   \"Pw0rdSecretX\" \\\n  --api-token=\\\nT0kenValueX\n"
    )
    code, out = invoke("audit", "--fix", str(script))
    _check(code, out, "audit --fix")
    assert "+docker run --gpus all" in out
    for secret in ("Hunter2SecretXyz", "Pw0rdSecretX", "T0kenValueX"):
        assert secret not in out
        assert secret not in redact_text(script.read_text() * 3000)  # the block path (256 KiB and more)
    kept = "docker run \\\n  --gpus \\\n  all \\\n  -e PATH=\\\n/usr/bin img\n"
    assert redact_text(kept) == kept


def test_a_compose_secret_written_below_its_key_is_redacted(tmp_path: Path) -> None:
    """`DB_PASSWORD:` then the value on the next line (a plain scalar continued, or `API_KEY: >-` and a folded block):
    the --fix diff printed both values as context lines. YAML's own `secret:` and `auth:` mappings stay readable."""
    from tpdoctor.redact import redact_text

    path = tmp_path / "compose.yaml"
    path.write_text(
        "services:\n  v:\n    image: vllm/vllm-openai\n    privileged: true\n    environment:\n"
        "      DB_PASSWORD:\n        Hunter2SecretXyz\n      API_KEY: >-\n        FoldedSecretValue\n"
        "      HF_HOME: /data\n    command: --tensor-parallel-size 2\n"
    )
    code, out = invoke("audit", "--fix", str(path))
    _check(code, out, "audit --fix")
    assert "Hunter2SecretXyz" not in out and "FoldedSecretValue" not in out
    assert "HF_HOME: /data" in out
    kept = "volumes:\n  - name: x\n    secret:\n      secretName: foo\nauth:\n  user: bob\n"
    assert redact_text(kept) == kept
    big = redact_text(path.read_text() * 2000)  # the block path
    assert "Hunter2SecretXyz" not in big and "FoldedSecretValue" not in big and big.count("HF_HOME: /data") == 2000


# -- Kubernetes JSON manifests -----------------------------------------------------------------------------------------
def _kubectl_json(kind_list: bool) -> str:
    import json

    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "vllm"},
        "spec": {
            "selector": {"matchLabels": {"a": "b"}},
            "template": {
                "metadata": {"labels": {"a": "b"}},
                "spec": {
                    "containers": [
                        {
                            "name": "vllm",
                            "image": "vllm/vllm-openai",
                            "args": ["--tensor-parallel-size", "2"],
                            "securityContext": {"privileged": True},
                            "resources": {"limits": {"nvidia.com/gpu": 2}},
                        }
                    ]
                },
            },
        },
    }
    obj = {"apiVersion": "v1", "kind": "List", "items": [deployment]} if kind_list else deployment
    return json.dumps(obj, indent=4) + "\n"  # kubectl get -o json's layout


def test_a_kubectl_json_manifest_is_audited_as_kubernetes(tmp_path: Path) -> None:
    """`kubectl get deploy -o json` (a List, quoted keys) was read as a compose file: exit 2, 'no services: mapping
    found (is this a compose file?)', unless --input kubernetes was given."""
    for kind_list in (True, False):
        path = tmp_path / f"k{kind_list}.json"
        path.write_text(_kubectl_json(kind_list))
        code, out = invoke("audit", str(path))
        assert code == 3 and "shm.too-small" in out and "security.privileged" in out, out


def test_a_json_manifest_is_written_back_as_json(tmp_path: Path) -> None:
    """--write turned the JSON file into one line of YAML flow mappings (`{seccompProfile: {type: RuntimeDefault}`):
    not JSON any more, and every line changed."""
    import json

    path = tmp_path / "k.json"
    text = _kubectl_json(True)
    path.write_text(text)
    code, out = invoke("audit", "--write", str(path))
    _check(code, out, "audit --write")
    new = path.read_text()
    container = json.loads(new)["items"][0]["spec"]["template"]["spec"]["containers"][0]
    assert "privileged" not in container["securityContext"]
    assert new.startswith(text[: text.index('"securityContext"')])  # the lines before the change, as written


def test_a_template_that_is_no_yaml_says_so(tmp_path: Path) -> None:
    """A Helm chart's template (`{{ .Release.Name }}`, `{{- if }}`) ended with the parser's position alone."""
    path = tmp_path / "deployment.yaml"
    path.write_text(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ .Release.Name }}-vllm\nspec:\n  template:\n"
        "    spec:\n      containers:\n        - name: vllm\n          {{- if .Values.privileged }}\n"
        "          securityContext: {privileged: true}\n          {{- end }}\n"
    )
    code, out = invoke("audit", str(path))
    assert code == 2 and "Helm or Jinja template: render it first" in out, out
    plain = tmp_path / "bad.yaml"
    plain.write_text("services:\n  a: [\n")
    code, out = invoke("audit", str(plain))
    assert code == 2 and "Jinja" not in out, out


def test_a_snapshot_of_a_root_with_a_non_utf8_name_is_written_and_read_back(tmp_path: Path) -> None:
    """An interface named b'\\xff\\xfeeth' under --root: --snapshot raised UnicodeEncodeError (exit 1, internal
    error) on its lone surrogates; the name is now written as JSON's \\udcff escapes and reads back the same."""
    import json
    import os

    root = tmp_path / "root"
    (root / "sys/class/net").mkdir(parents=True)
    os.mkdir(os.fsencode(root / "sys/class/net") + b"/\xff\xfeeth")
    snap = tmp_path / "snap.json"
    code, out = invoke("check", "--root", str(root), "--tp", "2", "--snapshot", str(snap))
    _check(code, out, "check --snapshot")
    assert [i["name"] for i in json.loads(snap.read_text())["network"]["interfaces"]] == ["\udcff\udcfeeth"]
    code, out = invoke("check", "--from-snapshot", str(snap), "--tp", "2")
    _check(code, out, "check --from-snapshot")
