"""gsafe50: hostile-input pass (docs/security.md, ## gsafe50). Each test failed on the tree before its fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from test_safety_fuzz import invoke
from tpdoctor.redact import REDACTED, redact_text


# -- engine_flags.py: value-less options the tables missed ---------------------------------------------------------------
@pytest.mark.parametrize(
    "line",
    [
        # docker 28.1's --use-api-socket; podman's --rmi, --unsetenv-all, --passwd
        "docker run --use-api-socket img --secret Hunter2Secret",
        "podman run --rmi img --secret Hunter2Secret",
        "podman run --unsetenv-all img --secret Hunter2Secret",
        "podman run --passwd img --secret Hunter2Secret",
        # podman's global --noout, --syslog, --transient-store
        "podman --noout run img --secret Hunter2Secret",
        "podman --syslog run img --secret Hunter2Secret",
        "podman --transient-store run img --secret Hunter2Secret",
        # compose run's -T / --no-TTY / --quiet-build / --dry-run
        "docker compose run -T svc --secret Hunter2Secret",
        "docker compose run --no-TTY svc --secret Hunter2Secret",
        "docker compose run --quiet-build svc --secret Hunter2Secret",
        "docker compose run --dry-run svc --secret Hunter2Secret",
        # compose's own options before run: the command read as no run at all
        "docker compose -f x.yml run svc --secret Hunter2Secret",
        "docker compose -f x.yml -p proj --profile gpu run --rm svc --secret Hunter2Secret",
        "docker compose --dry-run run svc --secret Hunter2Secret",
        "docker compose --file=x.yml run svc --secret Hunter2Secret",
    ],
)
def test_a_value_less_engine_option_does_not_swallow_the_image(line: str) -> None:
    """An option missing from engine_flags.py is read as taking the next word: the image went as its value, and the
    program's `--secret X` after the image was taken for the engine's own `--secret NAME` and printed."""
    out = redact_text(line)
    assert "Hunter2Secret" not in out and out.endswith(f"--secret {REDACTED}"), out


@pytest.mark.parametrize(
    "line",
    [
        "docker compose -f x.yml run --secret keepme svc",
        "docker run -itv /a:/b --secret keepme img app",
        "podman run --passwd --secret keepme img",
        "podman run --rm --passwd keepme",
    ],
)
def test_the_engines_own_secret_name_and_image_stay(line: str) -> None:
    """The engine's `--secret NAME` before the image is a name (gsafe47); a glued `-itv X` takes X (pflag), and
    podman's value-less `--passwd` hid the image or option after it."""
    assert redact_text(line) == line


def test_another_programs_passwd_is_still_hidden() -> None:
    for line in ("mysqladmin --passwd Hunter2Secret", "podman run --passwd img app --passwd Hunter2Secret",
                 "podman run img; app --passwd Hunter2Secret"):  # fmt: skip
        assert "Hunter2Secret" not in redact_text(line), line


def test_a_glued_short_value_flag_after_booleans_is_read_as_pflag_does(tmp_path: Path) -> None:
    """`docker run -itv /models:/models --privileged IMAGE`: `-itv` was read as `-i` with the value `tv`, the path
    as the image and `--privileged` as the program's argument: audit said `No known cause` (exit 0)."""
    f = tmp_path / "run.sh"
    f.write_text("docker run -itv /models:/models --privileged intel/ipex-llm-serving-xpu:latest\n")
    code, out = invoke("audit", str(f))
    assert code == 3 and "privileged" in out, out
    from tpdoctor.deploy.dockerrun import parse_flags

    flags, i = parse_flags(["-itv", "/m:/m", "-dp8080:80", "-e=A=1", "img"], 0)
    assert [(f.name, f.value) for f in flags] == [
        ("-i", None), ("-t", None), ("-v", "/m:/m"), ("-d", None), ("-p", "8080:80"), ("-e", "A=1")
    ]  # fmt: skip
    assert i == 4


# -- the redactor: gsafe48's leftovers ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "line",
    [
        'GOOGLE_APPLICATION_CREDENTIALS_JSON={"type": "service_account", "project_id": "p", '
        '"private_key_id": "Hunter2KeyId", "client_email": "x@p.iam.gserviceaccount.com"} python app.py',
        '"DB_PASSWORD": {"a": "Hunter2 x", "b": "c"}',
        'cfg={\\"DB_PASSWORD\\": {\\"a\\": \\"Hunter2\\"}}',
    ],
)
def test_a_json_object_as_a_secrets_value_is_hidden_whole(line: str) -> None:
    """The bare value was the `{` alone: the object was printed, only a secret-named key inside it hidden."""
    out = redact_text(line)
    assert "Hunter2" not in out and "service_account" not in out, out
    assert out.count("{") == out.count("}") or out.endswith("}"), out


def test_a_json_object_secret_keeps_the_line_after_it() -> None:
    out = redact_text('GOOGLE_APPLICATION_CREDENTIALS_JSON={"type": "x"} python app.py')
    assert out == f"GOOGLE_APPLICATION_CREDENTIALS_JSON={{{REDACTED}}} python app.py", out


@pytest.mark.parametrize(
    "line",
    [
        "sudo mokutil --test-key /var/lib/shim-signed/mok/MOK.der",
        "mokutil --import MOK.der --test-key MOK.der",
        "ssh-keygen --ssh-key ~/.ssh/id_ed25519.pub",
        "SSL_KEY=/etc/ssl/private/server.key",
    ],
)
def test_a_key_files_path_is_no_secret(line: str) -> None:
    """mokutil's `--test-key FILE` names a public key's file: the path was hidden."""
    assert redact_text(line) == line


def test_a_key_that_only_looks_like_a_file_is_still_hidden() -> None:
    for line in ("--api-key Hunter2.key.Secret", "API_KEY=Hunter2/abc", "--test-key Hunter2Secret"):
        assert "Hunter2" not in redact_text(line), line


# -- explain: the PCI BAR fact and correlate.py's fact:a~b ------------------------------------------------------------------
def _explain(tmp_path: Path, text: str) -> str:
    f = tmp_path / "dmesg.log"
    f.write_text(text)
    code, out = invoke("explain", str(f))
    assert code in (0, 3, 4), out
    return out


def test_a_bar_of_another_pci_domain_is_not_the_gpus(tmp_path: Path) -> None:
    """The domain was dropped from both addresses: on an Azure VM (Hyper-V vPCI: each device its own domain, all at
    00:00.0) an NVMe drive's BAR at c05b:00:00.0 was taken for the GPU's at 0001:00:00.0, a blocker."""
    out = _explain(
        tmp_path,
        "[    2.1] pci c05b:00:00.0: BAR 0 [mem size 0x400000000 64bit pref]: failed to assign\n"
        "[    3.2] nvidia 0001:00:00.0: enabling device (0000 -> 0002)\n",
    )
    assert "BLOCKER host.gpu-bar-unassigned" not in out, out


@pytest.mark.parametrize(
    "text",
    [
        "pci 0001:00:00.0: BAR 0 [mem size 0x400000000 64bit pref]: failed to assign\n"
        "nvidia 0001:00:00.0: enabling device (0000 -> 0002)\n",
        # lspci without -D names no domain: it matches any
        "pci 0000:84:00.0: BAR 1 [mem size 0x800000000 64bit pref]: failed to assign\n"
        "84:00.0 3D controller: NVIDIA Corporation GH100\n",
        "pci 0000:0a:00.0: BAR 1: failed to assign [mem size 0x800000000 64bit pref]\n"
        "NVRM: GPU 0000:0a:00.0: RmInitAdapter failed\n",
    ],
)
def test_the_same_gpus_bar_still_counts(tmp_path: Path, text: str) -> None:
    assert "BLOCKER host.gpu-bar-unassigned" in _explain(tmp_path, text)


def test_values_meet_reads_a_pci_address_without_its_domain() -> None:
    from tpdoctor.explain.correlate import _values_meet

    assert _values_meet(["84:00.0"], ["0000:84:00.0"]) and _values_meet(["0002:84:00.0"], ["84:00.0"])
    assert not _values_meet(["c05b:00:00.0"], ["0001:00:00.0"]) and not _values_meet([], ["84:00.0"])


# -- check --root: line and field ends as the kernel and glibc write them --------------------------------------------------
def test_a_mount_point_named_with_unicode_breaks_forges_no_mount() -> None:
    """/proc/self/mounts ends lines with \\n and separates fields with one blank, escaping only blank, tab, newline
    and backslash: splitlines()/split() also cut at U+2028 and NBSP, so a mount point named
    `/x<U+2028>tmpfs<NBSP>/dev/shm<NBSP>tmpfs<NBSP>rw,size=99g` was read as a 99 GiB tmpfs at /dev/shm."""
    from tpdoctor.facts.system import parse_mounts

    text = (
        "shm /dev/shm tmpfs rw,nosuid,size=65536k 0 0\n"
        "/dev/sda1 /x\u2028tmpfs\u00a0/dev/shm\u00a0tmpfs\u00a0rw,size=99g ext4 rw 0 0\n"
    )
    shm = [m for m in parse_mounts(text) if m.target == "/dev/shm"]
    assert [m.options for m in shm] == [["rw", "nosuid", "size=65536k"]]
    assert parse_mounts("a  /b\\040c   ext4 ro 0 0")[0].target == "/b c"  # runs of blanks and escapes as before


def test_a_passwd_gecos_holding_a_unicode_line_break_keeps_the_home() -> None:
    """getpwuid's lines end at \\n only: a gecos with U+2028 cut the entry before its home (NCCL's ~/.nccl.conf and
    the JIT cache defaults went unread); /etc/group the same."""
    from tpdoctor.facts.passwd import parse_passwd_entry

    entry = parse_passwd_entry("u:x:1000:1000:A\u2028B:/home/u:/bin/sh\n", 1000)
    assert entry is not None and entry.home == "/home/u"


# -- audit: compose services whose names YAML reads as other types ---------------------------------------------------------
def test_services_named_1_and_true_are_two_services(tmp_path: Path) -> None:
    """Python's `1 == True`: ruamel refused `services: {1: …, true: …}` as `duplicate key "True"` (exit 2), a legal
    compose file (compose-go reads every key as a string)."""
    f = tmp_path / "compose.yml"
    f.write_text(
        "services:\n  1:\n    image: redis\n  true:\n    image: intel/ipex-llm-serving-xpu:latest\n    privileged: true\n"
    )
    code, out = invoke("audit", str(f))
    assert code == 3 and "duplicate key" not in out and "privileged" in out, out
    code, out = invoke("audit", "--write", str(f))
    assert code in (0, 3, 4) and "wrote" in out, out
    text = f.read_text()
    assert text.startswith("services:\n  1:\n    image: redis\n  true:\n") and "privileged" not in text, text
    f.write_text("services:\n  1:\n    image: a\n  1:\n    image: b\n")  # a real duplicate stays one
    code, out = invoke("audit", str(f))
    assert code == 2 and "duplicate key" in out, out


@pytest.mark.parametrize("name", ["1", "1.5", "true", "null", "0x10", "2024-01-01"])
def test_fixing_a_service_whose_name_is_no_string(tmp_path: Path, name: str) -> None:
    """A service named `true`, `1` or `null` has a bool, int or None key: `audit --fix/--write` looked it up by
    its str() and raised KeyError, an internal error (exit 1)."""
    f = tmp_path / "compose.yml"
    f.write_text(f"services:\n  {name}:\n    image: intel/ipex-llm-serving-xpu:latest\n    privileged: true\n")
    code, out = invoke("audit", "--fix", str(f))
    assert code in (0, 3, 4) and "internal error" not in out and "-    privileged: true" in out, out


# -- hostile numbers: counts past the limits and past int()'s 4300 digits ------------------------------------------------
def test_docker_run_gpus_is_bounded(tmp_path: Path) -> None:
    """`docker run --gpus 99999999999999999999` built a fix for that many GPUs (a list of 10**20 render nodes: audit
    never ended), `--gpus` and 5000 digits raised int()'s ValueError: the count is bounded as compose's is."""
    f = tmp_path / "run.sh"
    for gpus in ("99999999999999999999", "9" * 5000):
        f.write_text(f"docker run --gpus {gpus} vllm/vllm-openai\n")
        code, out = invoke("audit", str(f))
        assert code == 2 and "--gpus" in out and "limit of 1024" in out and out.count("\n") == 1, out
    f.write_text("docker run --gpus 2 vllm/vllm-openai\n")
    assert invoke("audit", str(f))[0] in (3, 4)


def test_a_quoted_docker_run_with_a_huge_count_does_not_end_explain(tmp_path: Path) -> None:
    """A log line quoting `docker run --gpus <5000 digits> img` made the quoted-command reader raise ValueError: an
    internal error of the whole explain (exit 1). The command gives no fact; the log is explained."""
    f = tmp_path / "x.log"
    f.write_text(f"docker run --gpus {'9' * 5000} img\nRuntimeError: NCCL error: unhandled system error\n")
    code, out = invoke("explain", str(f))
    assert code in (0, 3, 4) and "internal error" not in out, out


@pytest.mark.parametrize("fix", [False, True])
def test_a_yaml_number_past_4300_digits_is_named(tmp_path: Path, fix: bool) -> None:
    """int() refuses a plain integer of over 4300 digits: both YAML loaders raised ValueError, printed as
    `unexpected compose structure: a value of the wrong type or shape`, naming neither the line nor the cause."""
    f = tmp_path / "compose.yml"
    f.write_text(f"services:\n  a:\n    image: vllm/vllm-openai\n    shm_size: {'9' * 5000}\n")
    code, out = invoke("audit", *(["--fix"] if fix else []), str(f))
    assert code == 2 and "line 4: a number of over 4300 digits" in out and out.count("\n") == 1, out


def test_a_unicode_digit_count_is_no_number() -> None:
    from tpdoctor.errors import InputError
    from tpdoctor.limits import parse_count

    with pytest.raises(InputError, match="must be a number"):
        parse_count("²", "GPU count:")
    assert parse_count("2", "GPU count:") == 2


def test_a_flag_set_false_is_not_set(tmp_path: Path) -> None:
    """`docker run --privileged=false` (pflag's bool with a value) was read as privileged: a DEGRADED finding and a
    fix removing a flag that grants nothing."""
    f = tmp_path / "run.sh"
    f.write_text("docker run --privileged=false --read-only=false --gpus all vllm/vllm-openai\n")
    code, out = invoke("audit", str(f))
    assert code in (0, 3, 4), out
    assert "privileged" not in out, out
    f.write_text("docker run --privileged=true --gpus all vllm/vllm-openai\n")
    assert "runs privileged" in invoke("audit", str(f))[1]


# -- check --root: per-device sysfs attributes ---------------------------------------------------------------------------
def _big_sysfs_root(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    (root / "proc/self").mkdir(parents=True)
    (root / "proc/self/status").write_text("Uid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\n")
    (root / "proc/cmdline").write_text("BOOT_IMAGE=/vmlinuz nomodeset\n")
    (root / "big").write_bytes(b"0x1002" + b" " * ((16 << 20) - 7))  # just under MAX_FACT_FILE (16 MiB)
    for i in range(150):
        pci = root / f"sys/bus/pci/devices/0000:{i:02x}:00.0"
        pci.mkdir(parents=True)
        (pci / "vendor").symlink_to("/big")
        (pci / "class").symlink_to("/big")
        drm = root / f"sys/class/drm/renderD{128 + i}/device"
        drm.mkdir(parents=True)
        (drm / "vendor").symlink_to("/big")
        (drm / "device").symlink_to("/big")
    return root


def test_a_sysfs_attribute_is_read_as_a_page(tmp_path: Path) -> None:
    """A PCI device's `vendor`/`class` (nomodeset's unbound GPUs) and a render node's `vendor`/`device` were read
    whole, up to 16 MiB each: one 16 MiB file linked from 4096 PCI and 1024 DRM directories is 160 GiB of reads
    (150 of each: 19 GB, about a minute here). A sysfs attribute is at most a page; that much is read."""
    import time

    root = _big_sysfs_root(tmp_path)
    t = time.perf_counter()
    code, out = invoke("check", "--root", str(root), "--snapshot", str(tmp_path / "s.json"))
    assert code in (0, 3, 4), out
    assert time.perf_counter() - t < 10, time.perf_counter() - t
    assert '"vendor": "0x1002"' in (tmp_path / "s.json").read_text()


def test_a_glued_flag_is_not_removed_with_its_neighbours() -> None:
    """Removing `-v` of `-itv /a:/b` would remove `-it` with it: the command is left as written, with the reason."""
    from tpdoctor.deploy.dockerrun import find_run_commands, script_edits

    text = "docker run -itv /a:/b --privileged img\n"
    runs, _, _ = find_run_commands(text, "x")
    assert script_edits(text, runs[0], [("list_remove", "volumes", "/a:/b")], False) == (
        "line 1: -itv holds -v with other flags: command left as written"
    )
    assert script_edits(text, runs[0], [("unset", "privileged")], False) != []


# -- the redactor: credentials as a command's operand or short flag ------------------------------------------------------
@pytest.mark.parametrize(
    "line",
    [
        "az login --service-principal -u id -p Hunter2Secret --tenant t",
        "az acr login -n reg -u u -p Hunter2Secret",
        "wandb login Hunter2Secret0123456789abcdef01234567",
        "wandb login --relogin --host https://wandb.example.com Hunter2Secret0123456789abcdef0123",
        "aws configure set aws_secret_access_key Hunter2Secret",
        "aws configure set default.aws_session_token Hunter2Secret",
    ],
)
def test_a_cli_login_credential_is_hidden(line: str) -> None:
    """The Azure CLI's `-p`, wandb's API key operand and `aws configure set`'s secret value were printed."""
    assert "Hunter2" not in redact_text(line), redact_text(line)


@pytest.mark.parametrize(
    "line",
    [
        "docker run -p 8080:80 img && az account show",
        "wandb: Currently logged in as: someuser. Use `wandb login --relogin` to force relogin",
        "aws configure set region us-east-1",
    ],
)
def test_cli_lines_without_a_credential_stay(line: str) -> None:
    assert redact_text(line) == line
