"""gfeat38: runtime.nvidia-low-level-runtime-missing on an empty runtimes list, and k3s / RKE2's bundled runc.

- `[nvidia-container-runtime] runtimes = []` replaces the defaults (the config is unmarshalled over them) and
  findRuntime refuses it before any lookup: "at least one runtime candidate must be specified"
  (NVIDIA/nvidia-container-toolkit internal/oci/runtime_low_level.go:42-43 @v1.14.0, :40-41 @v1.17.8, @v1.18.0,
  @v1.20.0): a blocker, proved, whatever the PATH holds.
- k3s and RKE2 start containerd with their bundled bin directory first on PATH (k3s-io/k3s cmd/k3s/main.go
  stageAndRun: <data-dir>/data/<hash>/bin, linked as data/current; rancher/rke2 pkg/bootstrap/bootstrap.go
  binDirForDigest and the <data-dir>/bin link, pkg/executor/staticpod/staticpod.go PATH): the runc there is found.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from fakeroot import FakeRoot
from tpdoctor.facts.collect import collect_facts
from tpdoctor.model import CheckOptions, Facts
from tpdoctor.rules.nvidia_toolkit import toolkit_low_level_runtime

LLR = "runtime.nvidia-low-level-runtime-missing"
CONFIG = "etc/nvidia-container-runtime/config.toml"
K3S_HASH = "3d0b1a6bd4c27ad7a1b0e0f7f2b0b5b1e0f8d2c4a6b8d0e2f4a6c8e0a2c4e6f8"
RKE2_VERSION = "v1.30.4-rke2r1-0a1b2c3d4e5f"


def _host(tmp_path: Path, config: str | None = None) -> FakeRoot:
    """A booted host with the NVIDIA runtime wrapper and no runc in the standard directories."""
    fr = FakeRoot(tmp_path)
    fr.mounts = ["/dev/sda1 / ext4 rw,relatime 0 0", "devtmpfs /dev devtmpfs rw,nosuid 0 0"]
    fr.write("usr/bin/nvidia-container-runtime", "").write("usr/bin/nvidia-container-runtime-hook", "")
    if config is not None:
        fr.write(CONFIG, config)
    return fr


def _exe(fr: FakeRoot, inroot: str) -> FakeRoot:
    fr.write(inroot, "")
    fr.path(inroot).chmod(0o755)
    return fr


def _facts(fr: FakeRoot) -> Facts:
    fr.flush()
    return collect_facts(fr.root, dict(fr.env), live=False)


def _llr(facts: Facts) -> list:  # type: ignore[type-arg]
    return list(toolkit_low_level_runtime(facts, CheckOptions()))


# --- runtimes = [] ---------------------------------------------------------------------------------------------------


def test_an_empty_runtimes_list_is_a_proved_blocker_in_the_toolkits_words(tmp_path: Path) -> None:
    fr = _exe(_host(tmp_path, "[nvidia-container-runtime]\nruntimes = []\n"), "usr/bin/runc")  # runc is there
    facts = _facts(fr)
    assert facts.nvidia_toolkit.runtimes == [] and facts.nvidia_toolkit.config_refused is None
    (got,) = _llr(facts)
    assert got.cause == LLR and got.severity.value == "blocker" and got.confidence == "proves"
    assert "at least one runtime candidate must be specified" in got.message
    assert got.evidence[0].source == "/etc/nvidia-container-runtime/config.toml"
    assert got.evidence[0].text == "[nvidia-container-runtime] runtimes = []"


def test_an_empty_list_is_not_judged_without_the_wrapper_or_in_a_container(tmp_path: Path) -> None:
    fr = FakeRoot(tmp_path / "hook")
    fr.mounts = ["/dev/sda1 / ext4 rw,relatime 0 0", "devtmpfs /dev devtmpfs rw,nosuid 0 0"]
    fr.write("usr/bin/nvidia-container-runtime-hook", "").write(CONFIG, "[nvidia-container-runtime]\nruntimes = []\n")
    assert _llr(_facts(fr)) == []  # docker --gpus runs the hook alone: no wrapper to refuse anything
    inside = _host(tmp_path / "ctr", "[nvidia-container-runtime]\nruntimes = []\n").dockerenv()
    inside.mounts = ["overlay / overlay rw,relatime 0 0"]
    assert _llr(_facts(inside)) == []


def test_a_key_left_out_is_the_defaults_not_an_empty_list(tmp_path: Path) -> None:
    fr = _exe(_host(tmp_path, '[nvidia-container-runtime]\nmode = "auto"\n'), "usr/bin/runc")
    facts = _facts(fr)
    assert facts.nvidia_toolkit.runtimes == ["docker-runc", "runc", "crun"]
    assert _llr(facts) == []


# --- k3s / RKE2 bundled bin directories ------------------------------------------------------------------------------


def _k3s(fr: FakeRoot, *, link: bool = True, aux: bool = False) -> FakeRoot:
    version = f"var/lib/rancher/k3s/data/{K3S_HASH}"
    _exe(fr, f"{version}/bin/{'aux/' if aux else ''}runc")
    _exe(fr, f"{version}/bin/containerd")
    if link:  # k3s writes the link with the absolute path of the version (extract: os.Symlink(dir, current))
        fr.symlink("var/lib/rancher/k3s/data/current", f"/var/lib/rancher/k3s/data/{K3S_HASH}")
    return fr


def _rke2(fr: FakeRoot, *, link: bool = True) -> FakeRoot:
    _exe(fr, f"var/lib/rancher/rke2/data/{RKE2_VERSION}/bin/runc")
    if link:  # Stage: os.Symlink(refBinDir, <data-dir>/bin)
        fr.symlink("var/lib/rancher/rke2/bin", f"/var/lib/rancher/rke2/data/{RKE2_VERSION}/bin")
    return fr


def test_a_k3s_node_without_a_system_runc_uses_the_bundled_one(tmp_path: Path) -> None:
    facts = _facts(_k3s(_host(tmp_path)))
    assert facts.nvidia_toolkit.runtime_found == "/var/lib/rancher/k3s/data/current/bin/runc"
    assert _llr(facts) == []


def test_k3s_without_the_current_link_counts_each_version(tmp_path: Path) -> None:
    facts = _facts(_k3s(_host(tmp_path), link=False, aux=True))
    assert facts.nvidia_toolkit.runtime_found == f"/var/lib/rancher/k3s/data/{K3S_HASH}/bin/aux/runc"
    assert _llr(facts) == []


def test_an_rke2_node_without_a_system_runc_uses_the_bundled_one(tmp_path: Path) -> None:
    facts = _facts(_rke2(_host(tmp_path)))
    assert facts.nvidia_toolkit.runtime_found == "/var/lib/rancher/rke2/bin/runc"
    assert _llr(facts) == []


def test_rke2_without_its_bin_link_counts_each_version(tmp_path: Path) -> None:
    facts = _facts(_rke2(_host(tmp_path), link=False))
    assert facts.nvidia_toolkit.runtime_found == f"/var/lib/rancher/rke2/data/{RKE2_VERSION}/bin/runc"


def test_a_plain_host_without_runc_is_still_told(tmp_path: Path) -> None:
    fr = _host(tmp_path)
    fr.path("var/lib/rancher").mkdir(parents=True)  # an empty rancher directory is no bundle
    facts = _facts(fr)
    assert facts.nvidia_toolkit.runtime_found == ""
    (got,) = _llr(facts)
    assert got.cause == LLR and got.confidence == "suggests"


def test_a_plain_host_with_a_system_runc_is_quiet(tmp_path: Path) -> None:
    facts = _facts(_exe(_host(tmp_path), "usr/sbin/runc"))
    assert facts.nvidia_toolkit.runtime_found == "/usr/sbin/runc"


def test_a_bundle_without_the_candidate_is_not_found(tmp_path: Path) -> None:
    fr = _host(tmp_path, '[nvidia-container-runtime]\nruntimes = ["crun"]\n')
    facts = _facts(_rke2(_k3s(fr)))  # both bundle runc, not crun
    assert facts.nvidia_toolkit.runtime_found == ""
    assert [f.cause for f in _llr(facts)] == [LLR]


@pytest.mark.parametrize("absolute", [False, True])
def test_a_link_out_of_the_root_is_not_followed(tmp_path: Path, absolute: bool) -> None:
    outside = tmp_path / "outside" / "bin"
    outside.mkdir(parents=True)
    (outside / "runc").write_text("")
    (outside / "runc").chmod(0o755)
    fr = _host(tmp_path)
    if absolute:  # the host's own path of a directory beside the root
        k3s, rke2 = str(tmp_path / "outside"), str(outside)
    else:  # up past the root: data -> k3s -> rancher -> lib -> var -> root -> tmp_path
        k3s, rke2 = "../../../../../../outside", "../../../../../outside/bin"
    fr.symlink("var/lib/rancher/k3s/data/current", k3s)
    fr.symlink("var/lib/rancher/rke2/bin", rke2)
    # followed by the host, both links reach that runc
    assert (fr.path("var/lib/rancher/k3s/data/current") / "bin/runc").exists()
    assert (fr.path("var/lib/rancher/rke2/bin") / "runc").exists()
    facts = _facts(fr)
    assert facts.nvidia_toolkit.runtime_found == ""  # resolved inside the root: no runc there
    assert [f.cause for f in _llr(facts)] == [LLR]


def test_explain_names_the_empty_list_refusal(tmp_path: Path) -> None:
    from tpdoctor.explain import explain

    log = tmp_path / "docker.log"
    log.write_text(
        "docker: Error response from daemon: failed to create task for container: failed to create shim task: OCI "
        "runtime create failed: failed to create NVIDIA Container Runtime: error constructing low-level runtime: error "
        "locating runtime: at least one runtime candidate must be specified: unknown.\n"
    )
    (got,) = [f for f in explain([str(log)]).findings if f.severity.value != "notice"]
    assert got.cause == LLR and got.confidence == "proves"
