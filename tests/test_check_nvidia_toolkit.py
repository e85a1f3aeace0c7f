"""The NVIDIA Container Toolkit's config.toml (facts/nvidia_toolkit.py) and the findings it proves before a
GPU container is created (rules/nvidia_toolkit.py).

The files are written as the toolkit's packages and `nvidia-ctk config default` write them (NVIDIA/nvidia-container-
toolkit api/config/v1: top-level accept-* keys, [nvidia-container-cli] root/ldconfig, [nvidia-container-runtime]
mode, [nvidia-container-runtime-hook] skip-mode-detection, [features]); each key at its default and its failing value.
"""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path

import pytest

from conftest import run_cli
from fakeroot import FakeRoot
from tpdoctor.facts.collect import collect_facts
from tpdoctor.facts.nvidia_toolkit import collect_nvidia_toolkit
from tpdoctor.facts.snapshot import dump_facts
from tpdoctor.model import CheckOptions, Facts, Finding
from tpdoctor.rules.registry import run_fact_rules

CONFIG = "etc/nvidia-container-runtime/config.toml"
TOOLKIT_IDS = (
    "runtime.visible-devices-env-ignored",
    "runtime.hook-direct-unsupported",
    "nvidia.toolkit-ldconfig-wrong",
    "nvidia.toolkit-driver-root-wrong",
    "runtime.toolkit-config-invalid",
)
LIB = "usr/lib/x86_64-linux-gnu"


def _host(tmp_path: Path, config: str | None = None, *, installed: bool = True) -> FakeRoot:
    """A booted host's root (/ on a disk, /dev a devtmpfs), with the toolkit's hook and the given config.toml."""
    fr = FakeRoot(tmp_path)
    fr.mounts = ["/dev/sda1 / ext4 rw,relatime 0 0", "devtmpfs /dev devtmpfs rw,nosuid 0 0"]
    if installed:
        fr.write("usr/bin/nvidia-container-runtime-hook", "").write("usr/bin/nvidia-container-cli", "")
    fr.write("sbin/ldconfig", "")
    if config is not None:
        fr.write(CONFIG, config)
    return fr.flush()


def _facts(fr: FakeRoot) -> Facts:
    fr.flush()
    return collect_facts(fr.root, dict(fr.env), live=False)


def _found(facts: Facts) -> dict[str, Finding]:
    return {f.cause: f for f in run_fact_rules(facts, CheckOptions()) if f.cause in TOOLKIT_IDS}


def _check(fr: FakeRoot, config: str) -> dict[str, Finding]:
    fr.write(CONFIG, config)
    return _found(_facts(fr))


# --- accept-nvidia-visible-devices-envvar-when-unprivileged -------------------------------------------------


def test_envvar_when_unprivileged_false_is_found_with_the_key_in_the_evidence(tmp_path: Path) -> None:
    fr = _host(tmp_path)
    found = _check(fr, "accept-nvidia-visible-devices-envvar-when-unprivileged = false\n")
    f = found["runtime.visible-devices-env-ignored"]
    assert f.severity.value == "blocker" and f.confidence == "suggests"
    assert "docker --gpus" in f.message
    assert (f.evidence[0].source, f.evidence[0].text) == (
        "/etc/nvidia-container-runtime/config.toml",
        "accept-nvidia-visible-devices-envvar-when-unprivileged = false",
    )
    assert f.fixes[0].id == "request-through-runtime"
    docker = next(x for x in f.fixes if x.id == "request-through-runtime" and x.runtime == "docker")
    assert docker.snippet.startswith("--device nvidia.com/gpu=all")  # --gpus passes the ignored variable itself


def test_envvar_when_unprivileged_at_its_default_is_quiet(tmp_path: Path) -> None:
    fr = _host(tmp_path)
    assert "runtime.visible-devices-env-ignored" not in _check(
        fr, "accept-nvidia-visible-devices-envvar-when-unprivileged = true\n"
    )
    assert "runtime.visible-devices-env-ignored" not in _check(fr, "disable-require = false\n")


def test_envvar_false_beside_volume_mounts_is_the_hardened_setup_a_notice(tmp_path: Path) -> None:
    fr = _host(tmp_path)
    f = _check(
        fr,
        "accept-nvidia-visible-devices-envvar-when-unprivileged = false\n"
        "accept-nvidia-visible-devices-as-volume-mounts = true\n",
    )["runtime.visible-devices-env-ignored"]
    assert f.severity.value == "notice" and "only" in f.message


# --- nvidia-container-runtime.mode -------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["cdi", "jit-cdi"])
def test_a_cdi_mode_makes_the_direct_hook_refuse(tmp_path: Path, mode: str) -> None:
    f = _check(_host(tmp_path), f'[nvidia-container-runtime]\nmode = "{mode}"\n')["runtime.hook-direct-unsupported"]
    assert f.confidence == "suggests" and "--gpus" in f.message
    assert f.evidence[0].text == f'[nvidia-container-runtime] mode = "{mode}"'
    assert f.fixes[0].id == "toolkit-mode-auto"


@pytest.mark.parametrize("mode", ["auto", "legacy", "csv"])
def test_auto_legacy_and_csv_modes_are_not_it(tmp_path: Path, mode: str) -> None:
    assert "runtime.hook-direct-unsupported" not in _check(
        _host(tmp_path), f'[nvidia-container-runtime]\nmode = "{mode}"\n'
    )


def test_skip_mode_detection_lets_the_hook_run_in_cdi_mode(tmp_path: Path) -> None:
    config = '[nvidia-container-runtime]\nmode = "cdi"\n[nvidia-container-runtime-hook]\nskip-mode-detection = true\n'
    assert "runtime.hook-direct-unsupported" not in _check(_host(tmp_path), config)


# --- nvidia-container-cli.ldconfig -------------------------------------------------------------------------


def _ldconfig(value: str) -> str:
    return f'[nvidia-container-cli]\nldconfig = "{value}"\n'


def test_ldconfig_real_present_is_quiet(tmp_path: Path) -> None:
    fr = _host(tmp_path)
    fr.write("sbin/ldconfig.real", "")
    facts = _facts(fr.write(CONFIG, _ldconfig("@/sbin/ldconfig.real")))
    tk = facts.nvidia_toolkit
    assert (tk.ldconfig, tk.ldconfig_exists, tk.ldconfig_resolved) == ("@/sbin/ldconfig.real", True, "/sbin/ldconfig.real")
    assert "nvidia.toolkit-ldconfig-wrong" not in _found(facts)


def test_ldconfig_real_absent_with_plain_ldconfig_fails_only_before_toolkit_1_15(tmp_path: Path) -> None:
    f = _check(_host(tmp_path), _ldconfig("@/sbin/ldconfig.real"))["nvidia.toolkit-ldconfig-wrong"]
    assert f.severity.value == "notice" and "1.15" in f.message
    assert ("/sbin/ldconfig.real", "absent") in [(e.source, e.text) for e in f.evidence]


def test_ldconfig_absent_with_no_fallback_is_a_blocker(tmp_path: Path) -> None:
    fr = _host(tmp_path)
    os.unlink(fr.path("sbin/ldconfig"))
    f = _check(fr, _ldconfig("@/sbin/ldconfig.real"))["nvidia.toolkit-ldconfig-wrong"]
    assert f.severity.value == "blocker" and f.confidence == "proves"
    assert f.evidence[0].text == '[nvidia-container-cli] ldconfig = "@/sbin/ldconfig.real"'
    assert {e.source for e in f.evidence[1:]} == {"/sbin/ldconfig.real", "/sbin/ldconfig"}


def test_ldconfig_is_a_host_path_resolved_in_the_root_merged_usr(tmp_path: Path) -> None:
    fr = _host(tmp_path)
    os.unlink(fr.path("sbin/ldconfig"))
    os.rmdir(fr.path("sbin"))
    fr.write("usr/sbin/ldconfig", "").symlink("sbin", "usr/sbin")  # merged /usr: /sbin -> usr/sbin
    assert "nvidia.toolkit-ldconfig-wrong" not in _check(fr, _ldconfig("@/sbin/ldconfig"))


def test_ldconfig_without_at_is_refused_by_recent_toolkits_unless_allowed(tmp_path: Path) -> None:
    fr = _host(tmp_path)
    f = _check(fr, _ldconfig("/sbin/ldconfig"))["nvidia.toolkit-ldconfig-wrong"]
    assert f.confidence == "suggests" and "1.17.3" in f.message
    allowed = _ldconfig("/sbin/ldconfig") + "[features]\nallow-ldconfig-from-container = true\n"
    assert "nvidia.toolkit-ldconfig-wrong" not in _check(fr, allowed)


# --- nvidia-container-cli.root -----------------------------------------------------------------------------

ROOT = '[nvidia-container-cli]\nroot = "/run/nvidia/driver"\n'


def test_driver_root_that_does_not_exist_is_found(tmp_path: Path) -> None:
    f = _check(_host(tmp_path), ROOT)["nvidia.toolkit-driver-root-wrong"]
    assert f.severity.value == "blocker"
    assert [(e.source, e.text) for e in f.evidence] == [
        ("/etc/nvidia-container-runtime/config.toml", '[nvidia-container-cli] root = "/run/nvidia/driver"'),
        ("/run/nvidia/driver", "absent"),
    ]
    assert f.fixes[0].id == "driver-root-host"


def test_driver_root_without_a_driver_library_is_found(tmp_path: Path) -> None:
    fr = _host(tmp_path)
    fr.write("run/nvidia/driver/etc/os-release", "ID=ubuntu\n")  # the directory, before the driver is in it
    f = _check(fr, ROOT)["nvidia.toolkit-driver-root-wrong"]
    assert "no NVIDIA driver library" in f.message and f.fixes[0].id == "driver-container-ready"


def test_driver_root_with_libcuda_is_quiet(tmp_path: Path) -> None:
    fr = _host(tmp_path)
    fr.write(f"run/nvidia/driver/{LIB}/libcuda.so.550.54.15", "")
    fr.symlink(f"run/nvidia/driver/{LIB}/libcuda.so.1", "libcuda.so.550.54.15")
    facts = _facts(fr.write(CONFIG, ROOT))
    assert facts.nvidia_toolkit.driver_root_libs == [f"/run/nvidia/driver/{LIB}/libcuda.so.1"]
    assert "nvidia.toolkit-driver-root-wrong" not in _found(facts)


def _ld_cache(entries: dict[str, str]) -> bytes:
    """glibc's new-format ld.so.cache (sysdeps/generic/dl-cache.h) listing soname -> path."""
    head = struct.Struct("=20sII B3x I 12x")
    entry = struct.Struct("=iIIIQ")
    strings = b""
    offsets = []
    base = head.size + entry.size * len(entries)
    for name, path in entries.items():
        k = base + len(strings)
        strings += name.encode() + b"\0"
        v = base + len(strings)
        strings += path.encode() + b"\0"
        offsets.append((k, v))
    out = head.pack(b"glibc-ld.so.cache1.1", len(entries), len(strings), 0, 0)
    out += b"".join(entry.pack(0x0303, k, v, 0, 0) for k, v in offsets)
    return out + strings


def test_driver_root_whose_ld_cache_lists_nvml_elsewhere_is_quiet(tmp_path: Path) -> None:
    fr = _host(tmp_path)
    fr.write("run/nvidia/driver/opt/nvidia/lib/libnvidia-ml.so.1", "").write("run/nvidia/driver/etc/ld.so.cache", "")
    fr.path("run/nvidia/driver/etc/ld.so.cache").write_bytes(
        _ld_cache({"libnvidia-ml.so.1": "/opt/nvidia/lib/libnvidia-ml.so.1"})
    )
    facts = _facts(fr.write(CONFIG, ROOT))
    assert facts.nvidia_toolkit.driver_root_libs == ["/run/nvidia/driver/opt/nvidia/lib/libnvidia-ml.so.1"]
    assert "nvidia.toolkit-driver-root-wrong" not in _found(facts)


def test_the_hosts_own_root_is_not_judged(tmp_path: Path) -> None:
    for value in ("", "/"):
        found = _check(_host(tmp_path), f'[nvidia-container-cli]\nroot = "{value}"\n')
        assert "nvidia.toolkit-driver-root-wrong" not in found


# --- absent, installed or not; inside a container ------------------------------------------------------------


def test_absent_file_with_the_toolkit_installed_is_its_defaults_and_quiet(tmp_path: Path) -> None:
    facts = _facts(_host(tmp_path))
    tk = facts.nvidia_toolkit
    assert tk.config_state == "absent" and tk.installed
    assert (tk.accept_envvar_unprivileged, tk.mode, tk.driver_root) == (True, "auto", "")
    assert not _found(facts)


def test_absent_file_without_the_toolkit_is_unknown(tmp_path: Path) -> None:
    facts = _facts(_host(tmp_path, installed=False))
    tk = facts.nvidia_toolkit
    assert (tk.config_state, tk.accept_envvar_unprivileged, tk.installed) == (None, None, [])
    assert not _found(facts)


def test_inside_a_container_the_file_says_nothing_about_this_container(tmp_path: Path) -> None:
    fr = _host(tmp_path, "accept-nvidia-visible-devices-envvar-when-unprivileged = false\n" + ROOT)
    fr.mounts = FakeRoot(tmp_path / "c").mounts  # overlay / and a tmpfs /dev: a container
    fr.dockerenv()
    facts = _facts(fr)
    assert facts.nvidia_toolkit.config_state == "read"
    assert not _found(facts)


# --- files that are not the toolkit's TOML: one error line, never a traceback ------------------------------


def _errors(facts: Facts) -> list[str]:
    return [e for e in facts.errors if "config.toml" in e]


def test_malformed_toml_is_an_error_line_and_the_toolkit_refusing_every_container(tmp_path: Path) -> None:
    fr = _host(tmp_path, '[nvidia-container-cli\nroot = "/run/nvidia/driver"\n')
    facts = _facts(fr)
    assert facts.nvidia_toolkit.config_state == "invalid"
    (line,) = _errors(facts)
    assert line.startswith("/etc/nvidia-container-runtime/config.toml: not valid TOML (") and "\n" not in line
    # the toolkit's own loader (go-toml) refuses it too: one blocker, proven, and nothing read from its keys
    found = _found(facts)
    assert list(found) == ["runtime.toolkit-config-invalid"]
    f = found["runtime.toolkit-config-invalid"]
    assert f.severity.value == "blocker" and f.confidence == "proves"
    assert f.evidence[0].source == "/etc/nvidia-container-runtime/config.toml"
    assert f.evidence[0].text.startswith("not valid TOML: ") and "line 1" in f.evidence[0].text
    r = run_cli("check", "--root", str(fr.root))
    assert "Traceback" not in r.stderr and r.returncode == 3
    assert "runtime.toolkit-config-invalid" in r.stdout and "not valid TOML" in r.stdout + r.stderr


def test_binary_file_is_not_utf8_text(tmp_path: Path) -> None:
    fr = _host(tmp_path, "")
    fr.path(CONFIG).write_bytes(b"\x7fELF\x02\x01\x01\x00\xff\xfe" * 50)
    facts = _facts(fr)
    assert facts.nvidia_toolkit.config_state == "invalid"
    assert any("not UTF-8 text" in e for e in _errors(facts))


def test_a_100_mb_file_is_refused_not_read(tmp_path: Path) -> None:
    fr = _host(tmp_path, "")
    with open(fr.path(CONFIG), "r+b") as fh:
        fh.truncate(100 << 20)  # sparse: 100 MB of NULs
    facts = _facts(fr)
    assert facts.nvidia_toolkit.config_state == "invalid"
    (line,) = _errors(facts)
    assert "limit" in line


def test_wrong_types_are_ignored_with_one_line_each(tmp_path: Path) -> None:
    fr = _host(
        tmp_path,
        'accept-nvidia-visible-devices-envvar-when-unprivileged = "false"\n'
        "[nvidia-container-cli]\nldconfig = 3\n"
        "[nvidia-container-cli.root]\npath = \"/run/nvidia/driver\"\n"
        "[nvidia-container-runtime]\nmode = [\"cdi\"]\n",
    )
    facts = _facts(fr)
    tk = facts.nvidia_toolkit
    assert tk.config_state == "read"
    assert (tk.accept_envvar_unprivileged, tk.ldconfig, tk.driver_root, tk.mode) == (None, None, None, None)
    errors = _errors(facts)
    assert any("accept-nvidia-visible-devices-envvar-when-unprivileged is a string, not a boolean" in e for e in errors)
    assert any("nvidia-container-cli.ldconfig is an integer, not a string" in e for e in errors)
    assert any("nvidia-container-cli.root is a table, not a string" in e for e in errors)
    assert any("nvidia-container-runtime.mode is an array, not a string" in e for e in errors)
    # the toolkit's unmarshal fails on such a file: that is the finding (suggests: read here, not run), named by
    # the first wrong key; no other rule reads keys from a file the toolkit refuses
    found = _found(facts)
    assert list(found) == ["runtime.toolkit-config-invalid"]
    f = found["runtime.toolkit-config-invalid"]
    assert f.confidence == "suggests"
    assert f.evidence[0].text == "accept-nvidia-visible-devices-envvar-when-unprivileged is a string, not a boolean"


def test_a_wrong_type_hides_the_keys_other_rules_would_read(tmp_path: Path) -> None:
    # cdi mode would be runtime.hook-direct-unsupported in a file that loads; here the file does not load at all
    found = _check(_host(tmp_path), '[nvidia-container-runtime]\nmode = "cdi"\n[nvidia-container-cli]\nldconfig = 3\n')
    assert list(found) == ["runtime.toolkit-config-invalid"]
    assert "runtime.hook-direct-unsupported" in _check(_host(tmp_path), '[nvidia-container-runtime]\nmode = "cdi"\n')


@pytest.mark.parametrize("how", ["absolute", "relative"])
def test_a_config_linked_out_of_the_root_is_never_read(tmp_path: Path, how: str) -> None:
    outside = tmp_path / "outside.toml"
    outside.write_text('[nvidia-container-runtime]\nmode = "cdi"\n# MARKER-OUTSIDE\n')
    fr = _host(tmp_path)
    target = str(outside) if how == "absolute" else "../" * 8 + str(outside).lstrip("/")
    fr.symlink(CONFIG, target)
    facts = _facts(fr)
    tk = facts.nvidia_toolkit
    assert tk.config_state == "invalid" and tk.mode is None and tk.set_keys == []
    assert "MARKER-OUTSIDE" not in dump_facts(facts)
    assert not _found(facts)


def test_a_config_linked_inside_the_root_is_read_there(tmp_path: Path) -> None:
    fr = _host(tmp_path)
    fr.write("opt/toolkit/config.toml", '[nvidia-container-runtime]\nmode = "cdi"\n')
    fr.symlink(CONFIG, "/opt/toolkit/config.toml")  # absolute targets restart at the root
    assert "runtime.hook-direct-unsupported" in _found(_facts(fr))


def test_the_gpu_operators_config_is_read_when_etc_has_none(tmp_path: Path) -> None:
    fr = _host(tmp_path, installed=False)
    fr.write("usr/local/nvidia/toolkit/nvidia-container-runtime", "")
    fr.write("usr/local/nvidia/toolkit/.config/nvidia-container-runtime/config.toml", ROOT)
    facts = _facts(fr)
    assert facts.nvidia_toolkit.config == "/usr/local/nvidia/toolkit/.config/nvidia-container-runtime/config.toml"
    assert "nvidia.toolkit-driver-root-wrong" in _found(facts)


# --- snapshots and the CLI ------------------------------------------------------------------------------------


def test_snapshot_round_trip_gives_the_same_findings(tmp_path: Path) -> None:
    fr = _host(tmp_path, '[nvidia-container-runtime]\nmode = "cdi"\n' + ROOT)
    snap = tmp_path / "snap.json"
    r = run_cli("check", "--root", str(fr.root), "--snapshot", str(snap), "--format", "json")
    again = run_cli("check", "--from-snapshot", str(snap), "--format", "json")
    assert r.returncode == again.returncode == 3, (r.stderr, again.stderr)
    def causes(out: str) -> set[str]:
        return {f["cause"] for f in json.loads(out)["findings"]} & set(TOOLKIT_IDS)

    assert causes(r.stdout) == causes(again.stdout) == {
        "runtime.hook-direct-unsupported",
        "nvidia.toolkit-driver-root-wrong",
    }


def test_collector_alone_on_a_live_style_call_needs_no_other_facts(tmp_path: Path) -> None:
    from tpdoctor.facts.collect import CollectContext

    fr = _host(tmp_path, "accept-nvidia-visible-devices-envvar-when-unprivileged = false\n")
    facts = Facts()
    collect_nvidia_toolkit(CollectContext(root=fr.root, live=False, env={}), facts)
    assert facts.nvidia_toolkit.set_keys == ["accept-nvidia-visible-devices-envvar-when-unprivileged"]
    assert facts.nvidia_toolkit.accept_envvar_unprivileged is False
