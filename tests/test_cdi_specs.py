"""CDI specs on the host (facts/cdi.py) and runtime.cdi-spec-stale from `check`: a spec that names the
files of a driver an upgrade replaced, found before any container fails on it.

The specs are written in the shape `nvidia-ctk cdi generate` writes (cncf-tags/container-device-interface
specs-go/config.go: devices[].containerEdits.deviceNodes, containerEdits.mounts/hooks; NVIDIA/nvidia-container-toolkit
pkg/nvcdi names the driver's libraries by their versioned file names)."""

from __future__ import annotations

import json
from pathlib import Path

from fakeroot import FakeRoot
from tpdoctor.facts.cdi import host_paths
from tpdoctor.facts.collect import collect_facts
from tpdoctor.model import CheckOptions, Facts, Finding
from tpdoctor.rules.registry import run_fact_rules

LIB = "/usr/lib/x86_64-linux-gnu"


def _spec(version: str, extra_mounts: tuple[str, ...] = ()) -> str:
    mounts = [f"{LIB}/libcuda.so.{version}", f"{LIB}/libnvidia-ml.so.{version}",
              f"/lib/firmware/nvidia/{version}/gsp_ga10x.bin", *extra_mounts]
    lines = [
        "---",
        "cdiVersion: 0.5.0",
        "kind: nvidia.com/gpu",
        "devices:",
        "- name: \"0\"",
        "  containerEdits:",
        "    deviceNodes:",
        "    - path: /dev/nvidia0",
        "- name: all",
        "  containerEdits:",
        "    deviceNodes:",
        "    - path: /dev/nvidia0",
        "containerEdits:",
        "  deviceNodes:",
        "  - path: /dev/nvidiactl",
        "  hooks:",
        "  - hookName: createContainer",
        "    path: /usr/bin/nvidia-cdi-hook",
        "    args: [nvidia-cdi-hook, update-ldcache, --folder, " + LIB + "]",
        "  mounts:",
    ]
    for m in mounts:
        lines += [f"  - hostPath: {m}", f"    containerPath: {m}", "    options: [ro, nosuid, nodev, bind]"]
    return "\n".join(lines) + "\n"


def _host(tmp_path: Path, installed: str, specs: dict[str, str]) -> FakeRoot:
    fr = FakeRoot(tmp_path)
    for p in (f"{LIB}/libcuda.so.{installed}", f"{LIB}/libnvidia-ml.so.{installed}",
              f"/lib/firmware/nvidia/{installed}/gsp_ga10x.bin", "/usr/bin/nvidia-cdi-hook"):
        fr.write(p.lstrip("/"), "")
    for path, text in specs.items():
        fr.write(path.lstrip("/"), text)
    return fr


def _facts(fr: FakeRoot) -> Facts:
    fr.flush()
    return collect_facts(fr.root, {}, live=False)


def _stale(facts: Facts) -> list[Finding]:
    return [f for f in run_fact_rules(facts, CheckOptions()) if f.cause == "runtime.cdi-spec-stale"]


def test_host_paths_of_a_spec() -> None:
    import yaml

    spec = yaml.safe_load(_spec("550.54.15"))
    paths = host_paths(spec)
    assert paths[0] == "/dev/nvidiactl"  # the spec-wide edits first; a device node without hostPath: its path
    assert "/usr/bin/nvidia-cdi-hook" in paths and f"{LIB}/libcuda.so.550.54.15" in paths
    assert paths.count("/dev/nvidia0") == 1  # named by two devices, checked once


def test_a_spec_for_the_replaced_driver_is_stale(tmp_path: Path) -> None:
    fr = _host(tmp_path, "570.86.15", {"/etc/cdi/nvidia.yaml": _spec("550.54.15")})
    facts = _facts(fr)
    [spec] = facts.cdi_specs
    assert spec.path == "/etc/cdi/nvidia.yaml" and spec.kind == "nvidia.com/gpu"
    assert f"{LIB}/libcuda.so.550.54.15" in spec.missing and "/usr/bin/nvidia-cdi-hook" not in spec.missing
    [f] = _stale(facts)
    assert "libcuda.so.550.54.15" in f.message and f.evidence[0].source == "/etc/cdi/nvidia.yaml"


def test_a_spec_of_the_installed_driver_is_not(tmp_path: Path) -> None:
    fr = _host(tmp_path, "570.86.15", {"/var/run/cdi/nvidia.json": json.dumps({
        "cdiVersion": "0.6.0", "kind": "nvidia.com/gpu", "devices": [],
        "containerEdits": {"mounts": [{"hostPath": f"{LIB}/libcuda.so.570.86.15",
                                       "containerPath": f"{LIB}/libcuda.so.570.86.15"}]}})})
    facts = _facts(fr)
    assert [s.path for s in facts.cdi_specs] == ["/var/run/cdi/nvidia.json"] and not facts.cdi_specs[0].missing
    assert not _stale(facts)


def test_a_missing_file_of_the_user_is_not_a_driver(tmp_path: Path) -> None:
    spec = _spec("570.86.15", extra_mounts=("/srv/models/llama", f"{LIB}/libnvidia-ml.so.1"))
    facts = _facts(_host(tmp_path, "570.86.15", {"/etc/cdi/nvidia.yaml": spec}))
    assert "/srv/models/llama" in facts.cdi_specs[0].missing
    assert not _stale(facts)


def test_inside_a_container_the_specs_are_not_its_own(tmp_path: Path) -> None:
    fr = _host(tmp_path, "570.86.15", {"/etc/cdi/nvidia.yaml": _spec("550.54.15")}).dockerenv()
    fr.write("proc/self/cgroup", "0::/system.slice/docker-0123abcd.scope\n")
    facts = _facts(fr)
    assert facts.cdi_specs  # read, yet not a finding of this container
    assert not _stale(facts)


def test_a_library_linked_out_of_the_root_is_judged_inside_it(tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere" / "libcuda.so.550.54.15"
    outside.parent.mkdir()
    outside.write_text("")
    fr = _host(tmp_path, "570.86.15", {"/etc/cdi/nvidia.yaml": _spec("550.54.15")})
    fr.symlink(f"{LIB}/libcuda.so.550.54.15", str(outside))  # absolute: inside the root it points nowhere
    facts = _facts(fr)
    assert f"{LIB}/libcuda.so.550.54.15" in facts.cdi_specs[0].missing


def test_bad_specs_are_error_lines(tmp_path: Path) -> None:
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n" for p, c in zip("abcdefgh", "bcdefghi", strict=True)
    )
    fr = _host(tmp_path, "570.86.15", {
        "/etc/cdi/broken.yaml": "kind: nvidia.com/gpu\ncontainerEdits: [unclosed\n",
        "/etc/cdi/bomb.yaml": bomb,
        "/etc/cdi/list.json": "[1, 2]",
        "/etc/cdi/deep.json": "[" * 200_000 + "]" * 200_000,
        "/etc/cdi/notes.txt": "not a spec",
    })
    facts = _facts(fr)
    assert facts.cdi_specs == []
    errors = [e for e in facts.errors if "/etc/cdi/" in e]
    assert any(e.startswith("/etc/cdi/broken.yaml: not a readable CDI spec") for e in errors), errors
    assert any(e.startswith("/etc/cdi/bomb.yaml: not a readable CDI spec") for e in errors), errors
    assert any(e.startswith("/etc/cdi/deep.json: not a readable CDI spec") for e in errors), errors
    assert not any("notes.txt" in e for e in errors)
