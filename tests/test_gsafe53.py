"""gsafe53: hostile input against the redactor, audit's compose reader and gsafe52's leftovers; each test failed
before its fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from tpdoctor.redact import redact_text

PW = "Xy7kL2qwe"


# ---- a bare value's backslash escapes -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "line",
    [
        # a password with `$` escaped for the shell or compose: the value stopped at the backslash, `\$\$w0rd` printed
        f"docker run -e DB_PASSWORD=Pa\\$\\${PW} img",
        f"export API_TOKEN=abc\\&{PW}",
        f"mytool --api-key abc\\;{PW} --port 1",
        f"HF_TOKEN=hunter\\ {PW}",
    ],
)
def test_an_escaped_character_does_not_end_a_secret(line: str) -> None:
    out = redact_text(line)
    assert PW not in out, out
    assert "<redacted>" in out


def test_a_json_escaped_quote_still_ends_the_value() -> None:
    assert redact_text('{"msg": "env DB_PASSWORD=abc\\"}') == '{"msg": "env DB_PASSWORD=<redacted>\\"}'
    # a secret continued on the next line keeps its backslash (redact_text's continuation reads the next line)
    assert redact_text(f"-e DB_PASSWORD=\\\n{PW} img") == "-e DB_PASSWORD=\\\n<redacted> img"


def test_a_command_substitution_is_a_reference() -> None:
    """`PGPASSWORD=$(cat f) psql` printed `PGPASSWORD=<redacted> /run/secrets/pg) psql`."""
    line = "PGPASSWORD=$(cat /run/secrets/pg) psql -h db"
    assert redact_text(line) == line


# ---- gsafe52's leftovers ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "line",
    [
        "openssl enc -aes256 -pass env:MYVAR -in a -out b",
        "openssl enc -aes256 -pass file:/run/pw -in a -out b",
        "openssl enc -aes256 -pass fd:3 -in a -out b",
        "openssl enc -aes256 -pass stdin -in a -out b",
    ],
)
def test_an_openssl_pass_phrase_source_is_kept(line: str) -> None:
    assert redact_text(line) == line


def test_an_openssl_pass_phrase_is_hidden_after_pass() -> None:
    assert redact_text(f"openssl enc -aes256 -pass pass:{PW} -in a") == "openssl enc -aes256 -pass pass:<redacted> -in a"


@pytest.mark.parametrize(
    "line",
    [
        "ssh --no-password host",
        "ansible-playbook --ask-vault-pass site.yml",
        "ansible-playbook --ask-become-pass site.yml",
        "redis-cli --no-auth-warning ping",
        "gh auth login --with-token github.com",
        'command: ["ssh", "--no-password", "host"]',
        "args: [--ask-vault-pass, site.yml]",
    ],
)
def test_a_switch_named_for_a_secret_takes_no_value(line: str) -> None:
    assert redact_text(line) == line


def test_a_switch_at_a_line_end_does_not_hide_the_next_line() -> None:
    text = "ansible-playbook --ask-vault-pass \\\n  site.yml\n"
    assert redact_text(text) == text


@pytest.mark.parametrize(
    ("line", "want"),
    [
        (f"xfreerdp /u:admin /p:{PW} /v:host /d:CORP", "xfreerdp /u:admin /p:<redacted> /v:host /d:CORP"),
        (f'xfreerdp /u:admin /p:"{PW} x" /gp:{PW}', 'xfreerdp /u:admin /p:"<redacted>" /gp:<redacted>'),
        (f"sqlplus scott/{PW}@orcl", "sqlplus scott/<redacted>@orcl"),
        (f"sqlplus -S scott/{PW}@//db:1521/svc", "sqlplus -S scott/<redacted>@//db:1521/svc"),
        (f"sqlplus scott/{PW}", "sqlplus scott/<redacted>"),
        (f"expdp userid=scott/{PW}@orcl dumpfile=x.dmp", "expdp userid=scott/<redacted>@orcl dumpfile=x.dmp"),
        (f"CONNECT scott/{PW}@orcl", "CONNECT scott/<redacted>@orcl"),
        (f"nmcli dev wifi connect MySSID password {PW}", "nmcli dev wifi connect MySSID password <redacted>"),
        (f"nmcli con modify x wifi-sec.psk {PW}", "nmcli con modify x wifi-sec.psk <redacted>"),
        (f'nmcli con add type wifi 802-1x.password "{PW} y"', 'nmcli con add type wifi 802-1x.password "<redacted>"'),
        (f"vault login s.{PW}123", "vault login <redacted>"),
        (f"vault login -no-print hvs.{PW}", "vault login -no-print <redacted>"),
        (f"wpa_passphrase MySSID {PW}", "wpa_passphrase MySSID <redacted>"),
        (f"pip install --proxy me:{PW}@proxy:3128 foo", "pip install --proxy me:<redacted>@proxy:3128 foo"),
        (f"export HTTPS_PROXY=me:{PW}@proxy:3128", "export HTTPS_PROXY=me:<redacted>@proxy:3128"),
        (f"curl -x me:{PW}@proxy:3128 http://x", "curl -x me:<redacted>@proxy:3128 http://x"),
        (f"proxy = me:{PW}@proxy:3128", "proxy = me:<redacted>@proxy:3128"),
    ],
)
def test_these_passwords_are_hidden(line: str, want: str) -> None:
    assert redact_text(line) == want


@pytest.mark.parametrize(
    "line",
    [
        "sqlplus / as sysdba",
        "sqlplus scott@orcl",
        "connect client/server",
        "vault login -method=userpass username=me",
        "vault login -method userpass username=me",
        "vault login -",
        "wpa_passphrase MySSID",
        "git clone git@github.com:o/r",
        "ssh -x user@host",
        "nmcli con modify x wifi-sec.key-mgmt wpa-psk",
        "xfreerdp /u:admin /v:host /d:CORP",
    ],
)
def test_their_other_words_are_kept(line: str) -> None:
    assert redact_text(line) == line


# ---- a dash inside a word opened a flag ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "line",
    [
        "this is a non-secret value",
        "built-in-token support enabled",
        "ERROR: pre-auth handshake failed",
        "the self-signed-key option",
    ],
)
def test_a_dash_inside_a_word_is_no_flag(line: str) -> None:
    assert redact_text(line) == line


def test_a_flag_after_a_quote_or_bracket_still_hides() -> None:
    assert redact_text(f'"--api-key {PW}"') == '"--api-key <redacted>"'
    assert redact_text(f"(--api-key {PW})") == "(--api-key <redacted>)"


# ---- one shell-word reader ----------------------------------------------------------------------------------------


def test_an_escaped_quote_does_not_hide_the_image() -> None:
    """redact.py's reader knew no escapes: `x=\\"` opened a quote to the `"` of a later word, no image was read, and the
    program's `--secret PW` after the image counted as the engine's (a secret's name) and was printed."""
    out = redact_text(f"docker run --label x=\\\" img app --secret {PW} --label 'q\"'")
    assert PW not in out


def test_an_escaped_blank_keeps_the_secrets_name() -> None:
    """`-e A=\\ x`: `x` was read as the image, and the engine's `--secret NAME` after it as the program's secret."""
    line = "docker run -e A=\\ x --secret hf_name img"
    assert redact_text(line) == line


# ---- compose booleans ---------------------------------------------------------------------------------------------


def _compose_service(tmp_path: Path, body: str) -> object:
    from tpdoctor.deploy.compose import ComposeFrontend

    text = "services:\n  vllm:\n    image: intel/llm-scaler-vllm:latest\n" + body
    model, _ = ComposeFrontend().parse(text, str(tmp_path / "compose.yaml"))
    return model.services[0]


def test_a_read_only_string_false_is_writable(tmp_path: Path) -> None:
    from test_safety_fuzz import invoke

    f = tmp_path / "compose.yaml"
    f.write_text(
        "services:\n  vllm:\n    image: intel/llm-scaler-vllm:latest\n"
        "    devices: [/dev/dri/renderD128, /dev/dri/renderD129]\n"
        "    volumes:\n      - type: bind\n        source: /dev/dri/by-path\n        target: /dev/dri/by-path\n"
        '        read_only: "false"\n'
    )
    code, out = invoke("audit", str(f), "--fix")
    assert code in (0, 3, 4), out
    assert "+        read_only: true" in out


@pytest.mark.parametrize(("written", "want"), [('"false"', False), ('"true"', True), ('"TRUE"', True), ("false", False)])
def test_compose_service_booleans_read_as_compose_reads_them(tmp_path: Path, written: str, want: bool) -> None:
    svc = _compose_service(tmp_path, f"    privileged: {written}\n    read_only: {written}\n")
    assert svc.privileged is want  # type: ignore[attr-defined]
    assert svc.read_only is want  # type: ignore[attr-defined]


# ---- the tool table's reader --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "want"),
    [
        (f'"$HOME/bin/redis-cli" -a {PW} ping', '"$HOME/bin/redis-cli" -a <redacted> ping'),
        (f'"redis-cli" -a {PW}', '"redis-cli" -a <redacted>'),
        (f"'/usr/bin/redis-cli' -a {PW}", "'/usr/bin/redis-cli' -a <redacted>"),
    ],
)
def test_a_quoted_program_word_still_reads_its_password(line: str, want: str) -> None:
    assert redact_text(line) == want


@pytest.mark.parametrize(("head", "unit"), [("redis-cli ", "~"), ("redis-cli ", "a/"), ("redis-cli ", "a~")])
def test_a_tool_words_path_is_read_in_linear_time(head: str, unit: str) -> None:
    """`(?:[\\w.~-]*/)*` before the tool's name ran from every `~` of a run (25 s a 64 KiB line) and every `a/` of
    `a/a/a…` (240 s) to the run's end and back."""
    import time

    line = head + (unit * (65536 // len(unit) + 1))[:65536]
    t = time.perf_counter()
    redact_text(line)
    assert time.perf_counter() - t < 2.0
    assert redact_text(f"/usr/local/bin/redis-cli -a {PW} ping") == "/usr/local/bin/redis-cli -a <redacted> ping"
    assert redact_text(f"~/bin/redis-cli -a {PW}") == "~/bin/redis-cli -a <redacted>"


# ---- names of where a secret is served, and for how long ----------------------------------------------------------


@pytest.mark.parametrize(
    "line",
    [
        "OAUTH_TOKEN_URL=https://auth.example.com/oauth/token",
        "AUTH_PORT=8080",
        "AUTH_HOST=auth.internal",
        "SESSION_TIMEOUT=3600",
        "TOKEN_TTL=300",
        "KEY_VAULT_URI=https://kv.vault.azure.net/",
        "--token-url https://auth/token",
        "AUTH_ENDPOINT=https://auth/x",
    ],
)
def test_an_endpoint_or_a_lifetime_is_no_secret(line: str) -> None:
    assert redact_text(line) == line


@pytest.mark.parametrize(
    ("line", "want"),
    [
        (f"TOKEN_URL=https://u:{PW}@auth/token", "TOKEN_URL=https://u:<redacted>@auth/token"),
        (f"AUTH_URL=https://x/?token={PW}", "AUTH_URL=https://x/?token=<redacted>"),
        (f"SECRET_URL=https://hooks.slack.com/services/T0/B0/{PW}", "SECRET_URL=<redacted>"),
        (f"GRAFANA_PRIVATE_URL=https://x/{PW}", "GRAFANA_PRIVATE_URL=<redacted>"),
    ],
)
def test_a_urls_own_credentials_and_a_capability_url_are_still_hidden(line: str, want: str) -> None:
    assert redact_text(line) == want


@pytest.mark.parametrize(
    ("line", "want"),
    [
        ("mysql -uroot -pW4kqwZpLm0E db", "mysql -uroot -p<redacted> db"),
        ("mariadb -uroot -pW4kqwZpLm0E db", "mariadb -uroot -p<redacted> db"),
        ('command: ["sh", "-c", "mysql -uroot -pW4kqwZpLm0E db"]', 'command: ["sh", "-c", "mysql -uroot -p<redacted> db"]'),
    ],
)
def test_a_glued_mysql_password_is_no_secret_flags_name(line: str, want: str) -> None:
    """`-pW4…` read as a flag named `pW4…` (a `pw` word): the database name after it was hidden."""
    assert redact_text(line) == want


# ---- a secret flag's bare value in a list ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "want"),
    [
        ('    command: ["--api-key", 12345678901]', '    command: ["--api-key", <redacted>]'),
        (f'    command: ["--api-key", {PW}, "--port", 8000]', '    command: ["--api-key", <redacted>, "--port", 8000]'),
        ("    args: ['--password', 98765432]", "    args: ['--password', <redacted>]"),
    ],
)
def test_a_quoted_secret_flags_bare_value_is_hidden(line: str, want: str) -> None:
    assert redact_text(line) == want


@pytest.mark.parametrize("line", ['use "--api-key", not "--token" here', '["--api-key", ${KEY}]'])
def test_prose_and_references_after_a_quoted_flag_stay(line: str) -> None:
    assert redact_text(line) == line


def test_a_schema_message_hides_the_value_after_a_secret_flag(tmp_path: Path) -> None:
    """`args: ["--api-key", 12345678901]`: kubernetes-validate refuses the integer, and its message printed it."""
    pytest.importorskip("kubernetes_validate")
    from test_safety_fuzz import invoke

    f = tmp_path / "pod.yaml"
    f.write_text(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - name: c\n    image: x\n"
        "    args:\n    - --api-key\n    - 12345678901\n    - --port\n    - 8000\n"
    )
    for fmt in ("text", "json"):
        code, out = invoke("audit", str(f), f"--format={fmt}")
        assert code in (2, 3, 4), out
        assert "12345678901" not in out
        assert "8000" in out  # the port's refusal still shows its value


@pytest.mark.parametrize(
    "unit", ["TOKEN=$(", '"--api-key", ', "mysql -pW1 ", "non-secret ", '"redis-cli" -a ', "-pass env:x ", "TOKEN=a\\ "]
)
def test_the_new_shapes_are_read_in_linear_time(unit: str) -> None:
    import time

    line = (unit * (262144 // len(unit) + 1))[:262144]
    t = time.perf_counter()
    redact_text(line)
    assert time.perf_counter() - t < 4.0, unit


def test_a_schemeless_proxys_password_is_hidden_in_the_environment() -> None:
    """`HTTPS_PROXY=me:PW@proxy:3128` in the environment: `check --snapshot` and `check --format json` printed it (the
    value alone has no shape that marks the password)."""
    from tpdoctor.redact import redact_env

    env = {
        "HTTPS_PROXY": f"me:{PW}@proxy:3128",
        "http_proxy": f"me:{PW}@proxy:3128",
        "ALL_PROXY": f"socks5://u:{PW}@h:1080",
        "NO_PROXY": "localhost,10.0.0.0/8,.svc",
        "NCCL_SOCKET_IFNAME": "eth0",
    }
    out = redact_env(env)
    assert out["HTTPS_PROXY"] == out["http_proxy"] == "me:<redacted>@proxy:3128"
    assert out["ALL_PROXY"] == "socks5://u:<redacted>@h:1080"
    assert out["NO_PROXY"] == env["NO_PROXY"] and out["NCCL_SOCKET_IFNAME"] == "eth0"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SSH_AUTH_SOCK", "/tmp/ssh-XXXXabc/agent.1234"),
        ("DBUS_SESSION_BUS_ADDRESS", "unix:path=/run/user/1000/bus"),
        ("SESSION_MANAGER", "local/host:@/tmp/.ICE-unix/1234,unix/host:/tmp/.ICE-unix/1234"),
        ("XDG_SESSION_CLASS", "user"),
        ("XDG_SESSION_DESKTOP", "ubuntu"),
    ],
)
def test_a_login_sessions_variables_are_no_secrets(name: str, value: str) -> None:
    from tpdoctor.redact import redact_env

    assert redact_env({name: value}) == {name: value}


@pytest.mark.parametrize(
    ("line", "want"),
    [
        (f"smbclient //h/s {PW} -U u", "smbclient //h/s <redacted> -U u"),
        (f"smbclient -p 445 //h/s {PW}", "smbclient -p 445 //h/s <redacted>"),
        (f"smbclient //h/s -U u%{PW}", "smbclient //h/s -U u%<redacted>"),
        (f"npm config set _authToken {PW}", "npm config set _authToken <redacted>"),
        (f"npm config set //registry.npmjs.org/:_authToken {PW}", "npm config set //registry.npmjs.org/:_authToken <redacted>"),
        (f"yarn config set npmAuthToken {PW}", "yarn config set npmAuthToken <redacted>"),
    ],
)
def test_an_smbclient_operand_and_an_npm_token_setting_are_hidden(line: str, want: str) -> None:
    assert redact_text(line) == want


@pytest.mark.parametrize(
    "line",
    [
        "smbclient -L host -U u",
        "smbclient //h/s -N -c 'ls'",
        "npm config set registry https://r.example.com/",
        "npm config set _authToken ${NPM_TOKEN}",
    ],
)
def test_smbclient_and_npm_other_words_stay(line: str) -> None:
    assert redact_text(line) == line


@pytest.mark.parametrize("unit", ["npm config set ", "npm config set a", "smbclient //h/s ", "smbclient "])
def test_smbclient_and_npm_lines_are_read_in_linear_time(unit: str) -> None:
    import time

    line = (unit * (65536 // len(unit) + 1))[:65536] + "x" * 65536
    t = time.perf_counter()
    redact_text(line)
    assert time.perf_counter() - t < 3.0, unit


def test_a_schemeless_proxy_in_a_quoted_mapping_is_hidden(tmp_path: Path) -> None:
    """`"containerEnv": {"MY_PROXY": "u:PW@h:3128"}` in a dev container: the key's closing quote kept the proxy shape
    from matching and `audit --fix` printed the password in its context lines."""
    from test_safety_fuzz import invoke

    assert redact_text(f"'https_proxy': 'u:{PW}@h:3128'") == "'https_proxy': 'u:<redacted>@h:3128'"
    d = tmp_path / ".devcontainer"
    d.mkdir()
    f = d / "devcontainer.json"
    f.write_text(
        '{\n  "image": "vllm/vllm-openai:latest",\n  "runArgs": ["--privileged", "--gpus", "all"],\n'
        f'  "containerEnv": {{"MY_PROXY": "u:{PW}@h:3128"}}\n}}\n'
    )
    code, out = invoke("audit", str(f), "--fix")
    assert code in (0, 3, 4), out
    assert PW not in out
