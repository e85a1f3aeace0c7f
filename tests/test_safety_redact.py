"""Issue #11, defect 7: no planted secret appears in any output channel.

Secrets are planted by *shape* (URLs with passwords, bearer tokens, secret-named keys, token
prefixes, private keys) in the environment, a log and a compose file; every channel is read:
text, JSON and SARIF of check/explain/audit, snapshots, --fix diffs, run's messages and
--explain-log."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import run_cli
from fakeroot import FakeRoot
from tpdoctor.redact import REDACTED, is_secret_name, redact_env, redact_text

# every value here must never be printed
SECRETS = {
    "DATABASE_URL": "postgres://app:Pw1dbSecretZ@db:5432/app",
    "HTTPS_PROXY": "http://proxyuser:Pw2proxySecretZ@proxy:3128",
    "EXTRA_HEADER": "Authorization: Bearer Pw3bearerSecretZ0123",
    "MYSQL_PWD": "Pw4mysqlSecretZ",
    "GH_PAT": "Pw5ghpatSecretZ",
    "NOTES": "token hf_Pw6hfSecretZabcdefghijklmnop",
    "AWS_SECRET_ACCESS_KEY": "Pw7awsSecretZ/abcdefghijklmnopqrstuvwxyz",
}
NEEDLES = [
    "Pw1dbSecretZ",
    "Pw2proxySecretZ",
    "Pw3bearerSecretZ",
    "Pw4mysqlSecretZ",
    "Pw5ghpatSecretZ",
    "Pw6hfSecretZ",
    "Pw7awsSecretZ",
]

LOG = """\
INFO starting vllm with DATABASE_URL=postgres://app:Pw1dbSecretZ@db:5432/app
RuntimeError: request failed: Authorization: Bearer Pw3bearerSecretZ0123 rejected
ERROR AWS_SECRET_ACCESS_KEY=Pw7awsSecretZ/abcdefghijklmnopqrstuvwxyz is invalid
ERROR git clone https://ghp_Pw5ghpatSecretZaaaaaaaaaaaaaaaaaaaa@github.com/x/y failed
RuntimeError: oneCCL: ze_fd_manager.cpp:158 opendir failed: could not open device directory (token hf_Pw6hfSecretZabcdefghijklmnop)
"""


def _assert_clean(text: str, where: str) -> None:
    leaked = [n for n in NEEDLES if n in text]
    assert not leaked, f"{where}: {leaked}\n{text[:3000]}"


@pytest.mark.parametrize(
    "value",
    [
        "postgres://u:hunter22@db/x",
        "Authorization: Bearer abcdefgh12345678",
        "Basic dXNlcjpwYXNzd29yZA==",
        "ghp_0123456789abcdefghijABCDEFGHIJ",
        "github_pat_11AAAAAAA0123456789abcdefghij",
        "glpat-0123456789abcdefghij",
        "sk-proj-0123456789abcdefghij",
        "xoxb-0123456789-abcdefghij",
        "AKIAIOSFODNN7EXAMPLE",
        "hf_abcdefghijklmnopqrstuvwxyz",
        "api_key=s3cr3tvalue",
        '"password": "s3cr3tvalue"',
        "--hf-token s3cr3tvalue",
    ],
)
def test_secret_shapes_are_redacted(value: str) -> None:
    out = redact_text(f"prefix {value} suffix")
    assert REDACTED in out
    assert "s3cr3tvalue" not in out and "hunter22" not in out and "abcdefgh12345678" not in out


@pytest.mark.parametrize(
    "line",
    [
        "password: correct horse s3cr3tvalue",
        "{password: correct s3cr3tvalue, user: x}",
        "db_password: a s3cr3tvalue # c",
    ],
)
def test_yaml_values_with_blanks_are_redacted_whole(line: str) -> None:
    out = redact_text(line)
    assert "s3cr3tvalue" not in out and "correct" not in out, out


@pytest.mark.parametrize(
    "line",
    [
        "app.client-secret: s3cr3tvalue",  # kebab-case property: a secret, however rule-like its name
        "db.api-key: s3cr3tvalue # rotated monthly",
        "spring.datasource.password: s3cr3tvalue",
    ],
)
def test_dotted_secret_keys_stay_redacted(line: str) -> None:
    assert "s3cr3tvalue" not in redact_text(line)


def test_audit_names_the_service_of_an_inline_secret(tmp_path: Path) -> None:
    p = tmp_path / "c.yaml"
    p.write_text(
        "services:\n  vllm:\n    image: vllm/vllm-openai\n    environment:\n"
        f"      HF_TOKEN: {SECRETS['MYSQL_PWD']}\n"
    )
    r = run_cli("audit", str(p))
    assert "audit.secret-inline: vllm writes HF_TOKEN inline" in r.stdout, r.stdout
    _assert_clean(r.stdout + r.stderr, "audit secret-inline")


def test_check_fix_titles_are_not_redacted() -> None:
    r = run_cli("check", "--example", "article", "--tp", "2")
    assert "pass: add CAP_SYS_PTRACE" in r.stdout and REDACTED not in r.stdout, r.stdout


def test_private_key_block_is_redacted_across_lines() -> None:
    text = "a\n-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\nQUJD\n-----END OPENSSH PRIVATE KEY-----\nz\n"
    out = redact_text(text)
    assert "b3BlbnNzaC1rZXktdjEAAAAA" not in out and "QUJD" not in out
    assert out.startswith("a\n") and out.endswith("z\n")


@pytest.mark.parametrize(
    "plain",
    [
        "PATH=/usr/local/bin:/usr/bin",
        "PWD=/workspace",
        "CCL_WORKER_COUNT=2",
        "ZE_AFFINITY_MASK=0,1",
        "image: vllm/vllm-openai:v0.6.3",
        "RuntimeError: could not open /dev/dri/renderD128: Permission denied",
        "monkey=banana",
        "KEY_FILE=/run/secrets/key.pem",
        # prose in fix titles and log lines: an English key word, a colon, a sentence going on
        "Let the pidfd self-test pass: add CAP_SYS_PTRACE with the default seccomp profile",
        "HF token: set HF_TOKEN before the start",
        # a finding line: the cause id is a rule's name, its sentence no secret
        "NOTICE audit.secret-inline: vllm-0 writes HF_TOKEN inline. Pass it from the environment",
        "DEGRADED compose.key-ignored: llm sets deploy.resources, which docker compose v1 ignores",
        "|kvs_remove_name_key: client: remove_key|pmrt_finalize: failed",  # oneCCL's KVS, a real log line
        "HF_TOKEN: ${HF_TOKEN:-}",
        "HF_TOKEN: $${HF_TOKEN}",
        "env: [{name: HF_TOKEN, valueFrom: {secretKeyRef: {name: hf-token, key: token}}}]",
        '"containerEnv": {"HF_TOKEN": "${localEnv:HF_TOKEN}"}',  # devcontainer.json's reference
    ],
)
def test_plain_text_is_kept(plain: str) -> None:
    assert redact_text(plain) == plain


@pytest.mark.parametrize(
    "line, kept",
    [
        ("HF_TOKEN=${HF_TOKEN-hunter2pass}", "HF_TOKEN=${HF_TOKEN-"),
        ("DB_PASSWORD: ${DB_PASSWORD:-correcthorse}", "DB_PASSWORD: ${DB_PASSWORD:-"),
        ("-e API_KEY=${API_KEY:-plainvalue42} -e X=1", "-e API_KEY=${API_KEY:-"),
        ('"HF_TOKEN": "${localEnv:HF_TOKEN:hunter2pass}"', '"HF_TOKEN": "${localEnv:HF_TOKEN:'),
    ],
)
def test_a_reference_default_is_a_value(line: str, kept: str) -> None:
    """`${NAME-default}` gives the default while NAME is unset: a secret written there is a secret
    in the file, whatever its shape (a password has no prefix to be known by)."""
    out = redact_text(line)
    assert out.startswith(kept + "<redacted>"), out
    assert not any(w in out for w in ("hunter2pass", "correcthorse", "plainvalue42")), out


def test_env_redaction_goes_by_value_shape_and_name() -> None:
    out = redact_env(SECRETS)
    _assert_clean(str(out), "redact_env")
    assert out["DATABASE_URL"].startswith("postgres://app:") and out["DATABASE_URL"].endswith("@db:5432/app")
    assert is_secret_name("MYSQL_PWD") and is_secret_name("GH_PAT") and not is_secret_name("PATH")


@pytest.fixture
def secret_root(tmp_path: Path) -> Path:
    fr = FakeRoot(tmp_path).add_gpu(128, "0000:03:00.0").add_gpu(129, "0000:04:00.0").docker_default()
    fr.set_env(**SECRETS)
    return fr.root


@pytest.mark.parametrize("fmt", ["text", "json", "sarif"])
def test_check_outputs_and_snapshot(secret_root: Path, tmp_path: Path, fmt: str) -> None:
    snap = tmp_path / "s.json"
    r = run_cli("check", "--root", str(secret_root), "--format", fmt, "--snapshot", str(snap))
    assert r.returncode in (0, 3, 4), r.stderr
    _assert_clean(r.stdout + r.stderr, f"check {fmt}")
    _assert_clean(snap.read_text(), "snapshot")
    # the snapshot still names the variables and keeps non-secret parts
    assert "DATABASE_URL" in snap.read_text() and "@db:5432/app" in snap.read_text()


def test_env_file_snapshot(tmp_path: Path) -> None:
    env = tmp_path / "job.env"
    env.write_text("".join(f"{k}={v!r}\n".replace("'", '"') for k, v in SECRETS.items()))
    snap = tmp_path / "s.json"
    r = run_cli(
        "check", "--example", "article", "--env-file", str(env), "--snapshot", str(snap), "-f", "json"
    )
    assert r.returncode in (0, 3, 4), r.stderr
    _assert_clean(r.stdout + r.stderr, "check --env-file")


@pytest.mark.parametrize("fmt", ["text", "json", "sarif"])
def test_explain_quoted_lines(tmp_path: Path, fmt: str) -> None:
    log = tmp_path / "crash.log"
    log.write_text(LOG)
    r = run_cli("explain", "--format", fmt, str(log))
    assert r.returncode in (0, 3, 4), r.stderr
    assert "ze_fd_manager" in r.stdout or fmt == "sarif"
    _assert_clean(r.stdout + r.stderr, f"explain {fmt}")


def test_audit_fix_diff_context_lines(tmp_path: Path) -> None:
    p = tmp_path / "c.yaml"
    p.write_text(
        "services:\n"
        "  llm:\n"
        "    image: intelanalytics/ipex-llm-serving-xpu:latest\n"
        "    privileged: true\n"
        "    environment:\n"
        f"      DATABASE_URL: {SECRETS['DATABASE_URL']}\n"
        f"      MYSQL_PWD: {SECRETS['MYSQL_PWD']}\n"
        f"      GH_PAT: {SECRETS['GH_PAT']}\n"
        "      TENSOR_PARALLEL_SIZE: '2'\n"
    )
    for args in (["--fix"], ["--format", "json"], ["--format", "sarif"], []):
        r = run_cli("audit", *args, str(p))
        assert r.returncode in (0, 3, 4), r.stderr
        _assert_clean(r.stdout + r.stderr, f"audit {args}")
    assert "-    privileged: true" in run_cli("audit", "--fix", str(p)).stdout


def test_run_messages_and_explain_log(tmp_path: Path) -> None:
    log = tmp_path / "crash.log"
    log.write_text(LOG)
    out = tmp_path / "diag.json"
    r = run_cli("run", "--no-check", "--explain-log", str(out), "--", "sh", "-c", f"cat {log} >&2; exit 1")
    assert r.returncode == 1, r.stderr
    ours = "\n".join(line for line in r.stderr.splitlines() if line.startswith("tpdoctor:"))
    assert "explain" in ours
    _assert_clean(ours, "run messages")
    _assert_clean(out.read_text(), "--explain-log")
    assert (out.stat().st_mode & 0o077) == 0  # the diagnosis quotes the log: private
