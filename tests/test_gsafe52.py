"""gsafe52: hostile input against the lead52 code (rxcompat, redact_tools) and the leftovers; each test failed before
its fix."""

from __future__ import annotations

import random
import re
from pathlib import Path
from typing import Any

import pytest

from tpdoctor import rxcompat

# ---- rxcompat: the 3.10 form of a pattern must match what 3.11 matches -------------------------------------------

parser: Any = getattr(re, "_parser", None)
constants: Any = getattr(re, "_constants", None)
needs_311 = pytest.mark.skipif(not rxcompat.NATIVE, reason="compares with Python 3.11's own possessive forms")


def _leaves_311_syntax(pattern: str, flags: int) -> bool:
    """Whether the parsed pattern still holds a possessive repeat or an atomic group (3.10 rejects both)."""
    def walk(sub: Any) -> bool:
        for op, av in sub:
            if op in (constants.POSSESSIVE_REPEAT, constants.ATOMIC_GROUP):
                return True
            for item in av if isinstance(av, (tuple, list)) else ():
                for x in item if isinstance(item, (tuple, list)) else (item,):
                    if isinstance(x, parser.SubPattern) and walk(x):
                        return True
        return False

    return walk(parser.parse(pattern, flags))


def _spans(pattern: re.Pattern[str], text: str) -> list[tuple[int, int]]:
    return [m.span() for m in pattern.finditer(text)]


@needs_311
@pytest.mark.parametrize(
    ("pattern", "texts", "flags"),
    [
        # a quantifier after an atomic group or a possessive repeat applied to its backreference only: the lookahead
        # stayed required, so `(?>a)?b` did not match "b"
        (r"(?>a)?b", ["b", "ab", "xb"], 0),
        (r"(?>ab|a)*c", ["c", "ababc", "aac"], 0),
        (r"x(?:a++){0,2}y", ["xy", "xaay"], 0),
        # 3.11 matches each repetition of a group possessively repeated as a whole: `(?:ab|a){2}+` is not
        # `(?>(?:ab|a){2})`
        (r"(?:a{1,2}){2}+", ["aa", "aaa", "aaaa"], 0),
        (r"(a|ab){2}+c", ["aabc", "abac", "ababc"], 0),
        # a numeric backreference or conditional after an added group referred to the added group
        (r"(?>a)(b)\1", ["abb", "aba"], 0),
        (r"(?>a)(b)?(?(1)c|d)", ["abc", "ad", "abd"], 0),
        (r"a++(b)(?:\1)0", ["aabb0", "aab0"], 0),
        # `{}` is a literal to sre, no repeat
        (r"a{}+", ["a{}}}", "a{}"], 0),
        # verbose mode set by an inline flag, scoped on or off
        ("(?x)(?>a # a comment )\n b)c", ["abc", "a # a comment )\n bc"], 0),
        (r"(?x:a ++) b", ["aa b", "a  b"], 0),
        ("(?-x:a # b++\n)", ["a # bb\n", "a # bbb\n"], re.X),
        # a no-break space is no blank in verbose mode (str.isspace says it is): `a\xa0++` repeats the space
        ("a\xa0++", ["a\xa0\xa0", "aa\xa0"], re.X),
        ("\u2028++", ["\u2028\u2028"], re.X),
    ],
)
def test_the_310_form_matches_as_311_does(pattern: str, texts: list[str], flags: int) -> None:
    native = re.compile(pattern, flags)
    portable = rxcompat.portable(pattern, bool(flags & re.X))
    assert not _leaves_311_syntax(portable, flags), portable
    emulated = re.compile(portable, flags)
    for text in texts:
        assert _spans(emulated, text) == _spans(native, text), (pattern, portable, text)


def _random_pattern(rng: random.Random, depth: int = 0) -> str:
    atoms = ["a", "b", "[ab]", "[^a]", r"\d", r"\x61", ".", " ", "#", r"\ ", "\xa0", "{}", "{", "}"]
    k = rng.random()
    if depth > 3 or k < 0.3:
        s = rng.choice(atoms)
    elif k < 0.45:
        s = "(" + _random_pattern(rng, depth + 1) + ")"
    elif k < 0.55:
        s = "(?>" + _random_pattern(rng, depth + 1) + ")"
    elif k < 0.62:
        s = rng.choice(["(?:", "(?x:", "(?-x:", "(?i:", "(?P<n>"]) + _random_pattern(rng, depth + 1) + ")"
    elif k < 0.7:
        s = _random_pattern(rng, depth + 1) + "|" + _random_pattern(rng, depth + 1)
    else:
        s = _random_pattern(rng, depth + 1) + _random_pattern(rng, depth + 1)
    if rng.random() < 0.4:
        s += rng.choice(["*", "+", "?", "{1,2}", "{,2}", "{2}"]) + rng.choice(["", "+", "?", "+", "+"])
    if rng.random() < 0.05:
        s += "#c)\n"
    return s


@needs_311
def test_random_patterns_match_as_311_does() -> None:
    """Groups, atomic groups, scoped flags, alternations and every repeat, possessive or not (no backreferences or
    conditionals: where those name a group inside a repetition, sre's group state differs in corner cases)."""
    rng = random.Random(52)
    tried = 0
    while tried < 1500:
        pattern = ("(?x)" if rng.random() < 0.2 else "") + _random_pattern(rng)
        try:
            native = re.compile(pattern)
        except re.error:
            continue
        if not rxcompat._MAY_NEED.search(pattern):
            continue
        tried += 1
        emulated = re.compile(rxcompat.portable(pattern))
        for _ in range(12):
            text = "".join(rng.choice("ab1 #\xa0{}") for _ in range(rng.randrange(0, 9)))
            try:
                want = _spans(native, text)
            except SystemError:  # CPython 3.11.x's own possessive-repeat bug on some group spans
                break
            assert _spans(emulated, text) == want, (pattern, text)


def test_the_project_reads_routed_patterns_by_name() -> None:
    """The lookahead form adds groups, which moves the numbers of the pattern's own: a routed pattern's groups are
    named (on 3.10 a `.group(1)`, `findall` or `split` would read an added group)."""
    import tpdoctor.deploy.exceptions
    import tpdoctor.deploy.logquote
    import tpdoctor.redact  # noqa: F401

    assert rxcompat.routed
    for pattern in rxcompat.routed:
        compiled = re.compile(pattern)
        assert compiled.groups == len(compiled.groupindex), pattern


# ---- redact_tools: linear on long lines of tool words ------------------------------------------------------------

SECRET = "Zq7Secr3tWord"


@pytest.mark.parametrize(
    "unit",
    [
        "redis-cli ",
        "redis-cli -a ",
        "zip ",
        "mc alias ",
        "rclone config create a b ",
        "htpasswd -b ",
        'redis-cli "',
        "redis-cli '",
        "sudo -S <<<x ",
        '["redis-cli", ',
    ],
)
def test_tool_words_are_read_in_linear_time(unit: str) -> None:
    """Each tool word was read to its command's end: 64 KiB of `redis-cli ` took 184 s, 16 KiB 11 s."""
    import time

    from tpdoctor.redact import redact_line

    line = (unit * (16 * 1024 // len(unit) + 1))[: 16 * 1024]
    t = time.perf_counter()
    redact_line(line)
    assert time.perf_counter() - t < 2.0


@pytest.mark.parametrize(
    "line",
    [
        "redis-cli " * 3000 + f"-a {SECRET}",
        "redis-cli x " * 100 + f'sh -c "redis-cli -a {SECRET}"',
        "zip " * 2000 + f"-P {SECRET} out.zip",
        "htpasswd " * 2000 + f"-b f admin {SECRET}",
        "rclone config create a b " * 200 + f"secret_access_key {SECRET}",
        "rclone config create a b pass " + f"x pass {SECRET}",
        "mc alias set " * 200 + f"mc alias set m http://m ak {SECRET}",
        'test: ["CMD", "redis-cli", ' + '"x", ' * 300 + f'"-a", "{SECRET}"]',
    ],
)
def test_a_password_after_many_tool_words_is_still_hidden(line: str) -> None:
    from tpdoctor.redact import redact_line

    assert SECRET not in redact_line(line)


# ---- the redactor: tools and forms it did not know (each printed the password) -----------------------------------

LEAKED_BEFORE = [
    # curl's short options take a glued value (`-uuser:pw`)
    f"curl -uadmin:{SECRET} http://h:8000/v1/models",
    # mysql's glued password quoted as shells are written (`-p'x'`, `-p"x"`)
    f"mysql -h db -u root -p'{SECRET}' app",
    f'mysqladmin ping -h localhost -uroot -p"{SECRET}"',
    # a GPU server's BMC and the services beside a model server
    f"ipmitool -I lanplus -H bmc -U admin -P {SECRET} power status",
    f"ipmitool -H bmc -U admin -P{SECRET} sol activate",
    f"racadm -r idrac -u root -p {SECRET} getsysinfo",
    f"etcdctl --user root:{SECRET} get /registry",
    f"etcdctl --user=root:{SECRET} endpoint health",
    f"cqlsh -u cassandra -p {SECRET} cassandra",
    f"cypher-shell -u neo4j -p {SECRET} 'RETURN 1'",
    f"rabbitmqadmin -u admin -p {SECRET} list queues",
    f"influx setup -u admin -p {SECRET} -o org -b bucket -f",
    f"influx bucket list -t {SECRET}",
    f"mosquitto_passwd -b /mosquitto/passwd user {SECRET}",
    f"snmpwalk -v2c -c {SECRET} gpu-node-1",
    f"snmpget -v3 -u u -A {SECRET} -X {SECRET}x -l authPriv h sysName.0",
    f"openssl enc -aes256 -k {SECRET} -in model.bin -out model.enc",
    f"crane auth login registry.example.com -u me -p {SECRET}",
    f"rdesktop -u admin -p {SECRET} win-host",
    # a password or token fed on standard input to a program that reads one there
    f"echo {SECRET} | kinit admin@EXAMPLE.COM",
    f"kinit admin@EXAMPLE.COM <<< {SECRET}",
    f"echo -n {SECRET} | cryptsetup open /dev/nvme1n1 models -",
    f"printf '%s' {SECRET} | docker secret create hf_token -",
    f"echo '{SECRET}' | podman secret create db_pw -",
    f"echo {SECRET} | gh auth login --with-token",
    f"gh auth login --with-token <<< {SECRET}",
    f"echo {SECRET} | vault login -",
    f"echo {SECRET} | htpasswd -i /etc/nginx/.htpasswd admin",
    f"htpasswd -i /etc/nginx/.htpasswd admin <<< {SECRET}",
]


@pytest.mark.parametrize("line", LEAKED_BEFORE)
def test_a_tool_password_the_redactor_did_not_know_is_hidden(line: str) -> None:
    from tpdoctor.redact import REDACTED, redact_text

    out = redact_text(line + "\n")
    assert SECRET not in out
    assert REDACTED in out


KEPT_TOO = [
    'mysql -uroot -p"$MYSQL_ROOT_PASSWORD" -e "select 1"',
    "mysql -uroot -p'${MYSQL_ROOT_PASSWORD}' app",
    "etcdctl --user root get k",
    "ipmitool -I lanplus -H h -U admin -E power status",
    "snmpwalk -v2c -Cc h system",
    "crane auth token registry.example.com",
    "openssl enc -d -aes256 -in f -out g -kfile /run/secrets/k",
    "docker secret create s ./file",
    "echo $PW | vault login -",
    "echo ${TOKEN} | gh auth login --with-token",
    "curl --upload-file f http://h/x",
    "kinit -kt /etc/krb5.keytab host/x",
    "echo hello | tee out | sort",
    "docker secret ls",
    'influx -host h -port 8086 -precision rfc3339 -type influxql -execute "SHOW DATABASES"',
]


@pytest.mark.parametrize("line", KEPT_TOO)
def test_the_new_tools_other_words_are_kept(line: str) -> None:
    from tpdoctor.redact import redact_text

    assert redact_text(line + "\n") == line + "\n"


def test_only_the_quoted_password_goes() -> None:
    from tpdoctor.redact import redact_text

    assert redact_text(f"mysql -h db -p'{SECRET}' app\n") == "mysql -h db -p'<redacted>' app\n"
    assert redact_text(f"curl -uadmin:{SECRET} http://h\n") == "curl -uadmin:<redacted> http://h\n"
    assert redact_text(f"etcdctl --user root:{SECRET} get k\n") == "etcdctl --user root:<redacted> get k\n"


# ---- explain: env-typo detection on a long name ---------------------------------------------------------------------


def test_a_long_variable_name_is_no_slow_typo_search() -> None:
    """A word of the name was compared by edit distance with every real name's, whatever its length: a 16 KiB name
    took 2 s (a word longer or shorter by more than the slips allowed is none)."""
    import time

    from tpdoctor.explain import env_typos

    t = time.perf_counter()
    assert env_typos.typos_in("export NCCL_" + "A" * 16000 + "X") == []
    assert time.perf_counter() - t < 0.5
    assert env_typos.typos_in("export NCCL_SOCKT_IFNAME=eth0 -e NCCL_IB_DISBLAE=1") == [
        ("NCCL_SOCKT_IFNAME", "NCCL_SOCKET_IFNAME", "NCCL"),
        ("NCCL_IB_DISBLAE", "NCCL_IB_DISABLE", "NCCL"),
    ]


# ---- check --root: a relative TMPDIR ----------------------------------------------------------------------------------


def test_a_relative_tmpdir_is_the_jobs_cwds(tmp_path: Path) -> None:
    """tempfile makes a relative TMPDIR absolute from the process's cwd; it was skipped, and the Inductor cache judged
    under /tmp (the job's $PWD gives the cwd, as for a relative NCCL_CONF_FILE)."""
    from tpdoctor.facts.collect import collect_facts

    root = tmp_path / "root"
    (root / "proc/self").mkdir(parents=True)
    (root / "etc").mkdir()
    (root / "proc/self/status").write_text("Uid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\n")
    (root / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/bash\n")
    env = {"TMPDIR": "scratch", "PWD": "/work", "USER": "root"}
    (root / "proc/self/environ").write_text("\0".join(f"{k}={v}" for k, v in env.items()))
    (root / "work/scratch/torchinductor_root").mkdir(parents=True)
    (root / "tmp/torchinductor_root").mkdir(parents=True)
    facts = collect_facts(root, env, live=False)
    paths = [c.path for c in facts.jit_caches]
    assert "/work/scratch/torchinductor_root" in paths, paths
    assert "/tmp/torchinductor_root" not in paths


# ---- audit --fix / --write: a writable by-path mount in the forms other than `-v SRC:DST` ---------------------------

_BYPATH_RUN = (
    "docker run --device /dev/dri/renderD128 --device /dev/dri/renderD129 "
    "--mount type=bind,src=/dev/dri/by-path,dst=/dev/dri/by-path intel/llm-scaler-vllm:latest\n"
)


def test_a_bypath_mount_flag_is_made_readonly(tmp_path: Path) -> None:
    """`--mount type=bind,…` got `:ro` as a -v item, which matched no flag: the diff left it writable while the fix
    list said "by-path mounted read-only"."""
    from test_safety_fuzz import invoke

    f = tmp_path / "run.sh"
    f.write_text(_BYPATH_RUN)
    code, out = invoke("audit", str(f), "--write")
    assert code in (0, 3, 4), out
    assert "dst=/dev/dri/by-path,readonly " in f.read_text()
    code, out = invoke("audit", str(f))
    assert "audit.bypath-writable" not in out


def test_a_dev_containers_bypath_mount_is_made_readonly(tmp_path: Path) -> None:
    from test_safety_fuzz import invoke

    d = tmp_path / ".devcontainer"
    d.mkdir()
    f = d / "devcontainer.json"
    f.write_text(
        '{\n  "image": "intel/llm-scaler-vllm:latest",\n'
        '  "runArgs": ["--device", "/dev/dri/renderD128", "--device", "/dev/dri/renderD129"],\n'
        '  "mounts": ["source=/dev/dri/by-path,target=/dev/dri/by-path,type=bind"]\n}\n'
    )
    code, out = invoke("audit", str(f), "--write")
    assert code in (0, 3, 4), out
    assert '"source=/dev/dri/by-path,target=/dev/dri/by-path,type=bind,readonly"' in f.read_text()


def test_a_long_syntax_compose_bypath_volume_gets_read_only(tmp_path: Path) -> None:
    """A long-syntax volume (a mapping) was replaced by the string of its Python repr plus `,ro`:
    `"{'type': 'bind', …},ro"`, a volume compose refuses, written by --write."""
    from ruamel.yaml import YAML

    from test_safety_fuzz import invoke

    f = tmp_path / "compose.yaml"
    f.write_text(
        "services:\n  vllm:\n    image: intel/llm-scaler-vllm:latest\n"
        "    devices: [/dev/dri/renderD128, /dev/dri/renderD129]\n"
        "    volumes:\n      - type: bind\n        source: /dev/dri/by-path\n        target: /dev/dri/by-path\n"
    )
    code, out = invoke("audit", str(f), "--write")
    assert code in (0, 3, 4), out
    vol = YAML(typ="safe").load(f.read_text())["services"]["vllm"]["volumes"][0]
    assert vol == {"type": "bind", "source": "/dev/dri/by-path", "target": "/dev/dri/by-path", "read_only": True}


def test_a_flow_style_bypath_volume_keeps_its_line(tmp_path: Path) -> None:
    """Only `read_only` changes: the flow mapping stays one line with its other keys."""
    from test_safety_fuzz import invoke

    f = tmp_path / "compose.yaml"
    f.write_text(
        "services:\n  vllm:\n    image: intel/llm-scaler-vllm:latest\n"
        "    devices: [/dev/dri/renderD128, /dev/dri/renderD129]\n    volumes:\n"
        "      - {type: bind, source: /dev/dri/by-path, target: /dev/dri/by-path, read_only: false}  # by-path\n"
    )
    code, out = invoke("audit", str(f), "--write")
    assert code in (0, 3, 4), out
    # (the comment keeps its column: `false` to `true` adds a blank before it)
    assert re.search(
        r"\n      - \{type: bind, source: /dev/dri/by-path, target: /dev/dri/by-path, read_only: true\} +# by-path\n",
        f.read_text(),
    )


@pytest.mark.parametrize(
    ("written", "fixed"),
    [
        ("/dev/dri/by-path:/dev/dri/by-path:rw", "/dev/dri/by-path:/dev/dri/by-path:ro"),
        ("/dev/dri/by-path:/dev/dri/by-path:rw,z", "/dev/dri/by-path:/dev/dri/by-path:ro,z"),
        ("/dev/dri/by-path:/dev/dri/by-path:z", "/dev/dri/by-path:/dev/dri/by-path:z,ro"),
        ("/dev/dri/by-path:/dev/dri/by-path", "/dev/dri/by-path:/dev/dri/by-path:ro"),
    ],
)
def test_an_rw_bypath_volume_becomes_ro_not_rw_ro(tmp_path: Path, written: str, fixed: str) -> None:
    """`:rw` got `,ro` appended: `-v …:rw,ro`, a mode docker refuses ("invalid mode"), written by --write."""
    from test_safety_fuzz import invoke

    f = tmp_path / "run.sh"
    f.write_text(
        "docker run --device /dev/dri/renderD128 --device /dev/dri/renderD129 "
        f"-v {written} intel/llm-scaler-vllm:latest\n"
    )
    code, out = invoke("audit", str(f), "--write")
    assert code in (0, 3, 4), out
    assert f" -v {fixed} " in f.read_text()


# ---- the redactor: a flag after a secret-named flag, redis-cli's AUTH, curl's --oauth2-bearer ------------------------


@pytest.mark.parametrize(
    "line",
    [
        # `--no-auth-warning` names AUTH: the next word, `-a`, was hidden as its value, and redact_tools, reading the
        # line after, no longer saw `-a` before the password
        f"redis-cli --no-auth-warning -a {SECRET} ping",
        f"test: redis-cli --no-auth-warning -h redis -a {SECRET} ping",
        # redis-cli's operands are a Redis command: AUTH [user] password, CONFIG SET requirepass|masterauth password
        f"redis-cli AUTH {SECRET}",
        f"valkey-cli -h redis -p 6379 auth default {SECRET}",
        f"redis-cli -h r CONFIG SET requirepass {SECRET}",
        f'test: ["CMD", "redis-cli", "-h", "r", "AUTH", "{SECRET}"]',
        # curl(1): "--oauth2-bearer <token>"
        f"curl --oauth2-bearer {SECRET} https://h/v1/models",
    ],
)
def test_these_passwords_are_hidden(line: str) -> None:
    from tpdoctor.redact import REDACTED, redact_text

    out = redact_text(line + "\n")
    assert SECRET not in out
    assert REDACTED in out


@pytest.mark.parametrize(
    "line",
    [
        "redis-cli --no-auth-warning -h redis -n 0 ping",
        "vllm serve m --api-key --port 8000",
        "redis-cli GET auth",
        "redis-cli CONFIG GET requirepass",
        "redis-cli AUTH",
    ],
)
def test_a_flag_after_a_secret_flag_is_kept(line: str) -> None:
    from tpdoctor.redact import redact_text

    assert redact_text(line + "\n") == line + "\n"
