"""Issue 13, gnew30a: cause ids for container/host causes heldout29's collectors found no id for.

Lines are written from the format strings of the code that prints them (not copied from any log):

- runtime.flag-value-one-argument: spf13/pflag's 'unknown flag: --%s' (errors.go NotExistError, v1.0.7+; flag.go
  f.failf in v1.0.0-v1.0.6) with the name parseLongArg took, everything after '--' up to the first '=': a flag and its
  value handed over as one argv element ('--gpus all') give a name holding a space and the value
  (microsoft/vscode-remote-release#6989, devcontainer.json runArgs). docker.gpus-flag-unknown (a CLI without --gpus)
  keeps the bare 'unknown flag: --gpus' and leaves the glued form alone.
- lxc.privileged-nvidia-hook: lxc/lxc hooks/nvidia's 'FIXME: This hook currently only works in unprivileged mode.'
  (in_userns() is not "yes"), and LXC's log line format ('%s%s%s %s %-8s %s - %s:%s:%d - ', log.c) around conf.c
  lxc_setup's 'Failed to run mount hooks' and utils.c run_buffer's 'Script exited with status %d', beside the hook in
  the container's config and a privileged container (Saberwolf64/Proxmox-Nvidia-LXC-#1). The inverse of
  nvidia.hook-cgroup-denied (an unprivileged container whose hook cannot edit the device cgroup).
- compose.provider-keep-groups: libpod's 'looking up supplemental groups for container %s: %w' over moby/sys/user's
  'Unable to find group %s: %w' (ErrNoGroupEntries 'no matching entries in group file') for the literal keep-groups,
  and podman compose's '>>>> Executing external compose provider %q. Please see podman-compose(1) for how to disable
  this message. <<<<' naming docker-compose (kernalix7/winpodx#288). A plain `docker run --group-add keep-groups`
  stays device.group-name-unresolved (lamikr/rocm_sdk_builder#247, a dev log).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import all_causes as _all
from explain_helpers import findings as _findings
from explain_helpers import knowledge_ids as _ids
from explain_helpers import notes as _notes

_GLUED = "runtime.flag-value-one-argument"
_OLD_GPUS = "runtime.nvidia-toolkit-missing"
_LXC = "lxc.privileged-nvidia-hook"
_CGROUP = "nvidia.hook-cgroup-denied"
_KEEP = "compose.provider-keep-groups"
_GROUP = "device.group-name-unresolved"



def test_the_new_signatures_facts_and_correlations_are_loaded() -> None:
    got = _ids()
    for sid in (
        "cli.flag-value-one-argument", "lxc.mount-hooks-failed", "group.keep-groups-unresolved",
        "podman.compose-provider-docker-compose", "lxc-nvidia-hook", "lxc-privileged", "lxc-unprivileged",
        "docker-run-keep-groups", "lxc-privileged-nvidia-hook-failed", "lxc-privileged-nvidia-hook-not-cgroup",
        "lxc-hook-privileged-not-cgroup", "podman-compose-docker-compose-keep-groups",
        "docker-run-keep-groups-is-a-group-name", "docker-run-keep-groups-not-compose",
    ):
        assert sid in got, sid


# --- runtime.flag-value-one-argument ------------------------------------------------------------------------------

_GLUED_LINES = {
    # docker (cobra + pflag): the flag error, then cobra's usage hint on its own line
    "docker-gpus": "docker: unknown flag: --gpus all\nSee 'docker run --help'.\n",
    # the bare pflag text, as devcontainer's log shows it
    "bare-gpus": "unknown flag: --gpus all\n",
    # podman: 'Error: ' + the pflag error
    "podman-device": "Error: unknown flag: --device /dev/dri\nSee 'podman run --help'\n",
    # shm-size with its value
    "docker-shm": "docker: unknown flag: --shm-size 16g\n",
    # the device list with docker's inner quotes
    "docker-gpus-device": "docker: unknown flag: --gpus \"device=0,1\"\n",
    # --env FOO=bar: pflag splits at '=', so only 'env FOO' is printed
    "env-split-at-equals": "Error: unknown flag: --env NCCL_DEBUG\n",
    # one element holding two flags with their values
    "two-flags": "unknown flag: --gpus all --ipc host\n",
    # a paste that joined cobra's hint onto the line
    "joined-hint": "unknown flag: --gpus all See 'docker run --help'.\n",
    # nerdctl through logrus
    "nerdctl": 'time="2025-03-02T10:11:12Z" level=fatal msg="unknown flag: --gpus all"\n',
}


@pytest.mark.parametrize("form", sorted(_GLUED_LINES))
def test_glued_flag_and_value_name_the_one_argument_cause(tmp_path: Path, form: str) -> None:
    got = _findings(tmp_path, _GLUED_LINES[form])
    assert got and got[0] == (_GLUED, "proves"), (form, got)
    assert _OLD_GPUS not in _all(tmp_path, _GLUED_LINES[form]), form


@pytest.mark.parametrize(
    "text",
    [
        "unknown flag: --gpus\nSee 'docker run --help'.\n",
        "Error: unknown flag: --gpus\n",
        "unknown flag: --gpus See 'docker run --help'.\n",
        "docker 18.09 says unknown flag: --gpus when I pass it, even with nvidia-docker2 installed\n",
    ],
)
def test_a_cli_without_the_gpus_flag_stays_the_old_cli(tmp_path: Path, text: str) -> None:
    # the other direction: the bare flag name (or prose after it) is an old docker/podman, never the glued form;
    # glearn33a: an old client is a note (update the CLI), not a missing toolkit (NVIDIA/nvidia-docker#1199)
    assert _OLD_GPUS not in _all(tmp_path, text)
    assert any("predates the flag" in n for n in _notes(tmp_path, text)), _notes(tmp_path, text)
    assert _GLUED not in _all(tmp_path, text)
    assert _findings(tmp_path, _GLUED_LINES["bare-gpus"])[0][0] == _GLUED


def test_other_unknown_flags_alone_name_nothing(tmp_path: Path) -> None:
    assert _all(tmp_path, "Error: unknown flag: --shm-size\n") == []
    assert _all(tmp_path, "unknown flag: --foo-bar\nSee 'docker run --help'.\n") == []
    assert _findings(tmp_path, "Error: unknown flag: --shm-size 8g\n")[0][0] == _GLUED


# --- lxc.privileged-nvidia-hook -----------------------------------------------------------------------------------

# conf.c lxc_setup / utils.c run_buffer / start.c, in LXC's own log format and in Proxmox's short task form
_HOOK_FAILED_LXC = (
    "lxc 102 20250302101112.304 ERROR    utils - utils.c:run_buffer:571 - Script exited with status 1\n"
    "lxc 102 20250302101112.304 ERROR    conf - conf.c:lxc_setup:3948 - Failed to run mount hooks\n"
    'lxc 102 20250302101112.304 ERROR    start - start.c:do_start:1273 - Failed to setup container "102"\n'
)
_HOOK_FAILED_PVE = (
    "__safe_mount_beneath_at: 1106 Function not implemented - Failed to open 51(dev)\n"
    "run_buffer: 314 Script exited with status 1\n"
    "lxc_setup: 3388 Failed to run mount hooks\n"
    'do_start: 1218 Failed to setup container "102"\n'
    "TASK ERROR: startup for container '102' failed\n"
)
_NV_HOOK = [
    "lxc.hook.mount: /usr/share/lxc/hooks/nvidia\n",
    "lxc.hook.mount = /usr/share/lxc/hooks/nvidia\n",
    "lxc.environment: NVIDIA_VISIBLE_DEVICES=all\n",
    '  nvidia.runtime: "true"\n',
]
_PRIV = [
    "unprivileged: 0\n",
    '  security.privileged: "true"\n',
    "The container is privileged, created with pct create 102 local:vztmpl/debian-11.tar.zst --unprivileged 0\n",
]


def test_the_hooks_own_refusal_names_it(tmp_path: Path) -> None:
    text = "FIXME: This hook currently only works in unprivileged mode.\n"
    got = _findings(tmp_path, text)
    assert got and got[0] == (_LXC, "proves"), got
    assert "runtime.gpu-request-invalid" not in _all(tmp_path, text)


@pytest.mark.parametrize("failed", [_HOOK_FAILED_LXC, _HOOK_FAILED_PVE], ids=["lxc-log", "proxmox-task"])
@pytest.mark.parametrize("hook", _NV_HOOK)
@pytest.mark.parametrize("priv", _PRIV)
def test_mount_hooks_failed_with_the_nvidia_hook_in_a_privileged_container(
    tmp_path: Path, failed: str, hook: str, priv: str
) -> None:
    got = _findings(tmp_path, hook + priv + failed)
    assert got and got[0] == (_LXC, "suggests"), got


def test_mount_hooks_failed_needs_the_hook_and_a_privileged_container(tmp_path: Path) -> None:
    assert _LXC in _all(tmp_path, _NV_HOOK[0] + _PRIV[0] + _HOOK_FAILED_PVE)
    # another hook (no NVIDIA hook configured), or nothing saying the container is privileged: not named
    assert _LXC not in _all(tmp_path, "lxc.hook.mount: /usr/share/debmatic/bin/lxc-start-hook.sh\n" + _PRIV[0] + _HOOK_FAILED_PVE)
    assert _LXC not in _all(tmp_path, _NV_HOOK[0] + _HOOK_FAILED_PVE)
    # the privilege and the hook without a failure: nothing
    assert _all(tmp_path, _NV_HOOK[0] + _PRIV[0]) == []


def test_an_unprivileged_container_stays_with_the_cgroup_cause(tmp_path: Path) -> None:
    # the inverse: nvidia-container-cli ran (the container is unprivileged) and could not edit the device cgroup
    cgroup = (
        "nvidia-container-cli: mount error: open failed: /sys/fs/cgroup/devices/lxc.payload.102/devices.allow: "
        "permission denied\n"
    )
    text = _NV_HOOK[0] + "unprivileged: 1\n" + cgroup + _HOOK_FAILED_LXC
    got = _findings(tmp_path, text)
    assert got and got[0][0] == _CGROUP, got
    assert _LXC not in _all(tmp_path, text)
    # a privileged one with the same hook failure is this id, and the cgroup cause is dropped
    text = _NV_HOOK[0] + _PRIV[1] + _HOOK_FAILED_LXC
    assert _findings(tmp_path, text)[0][0] == _LXC
    assert _CGROUP not in _all(tmp_path, "FIXME: This hook currently only works in unprivileged mode.\n")


def test_unprivileged_words_are_not_privileged(tmp_path: Path) -> None:
    text = _NV_HOOK[0] + "The container is unprivileged (unprivileged: 1)\n" + _HOOK_FAILED_PVE
    assert _LXC not in _all(tmp_path, text)
    assert _LXC in _all(tmp_path, _NV_HOOK[0] + "The container is privileged\n" + _HOOK_FAILED_PVE)


# --- compose.provider-keep-groups ---------------------------------------------------------------------------------

_BANNER = (
    '>>>> Executing external compose provider "/usr/libexec/docker/cli-plugins/docker-compose". Please see '
    "podman-compose(1) for how to disable this message. <<<<\n\n"
)
_KEEP_LINES = {
    # docker-compose printing the Podman API's error: libpod's wrap around moby/sys/user's capitalised lookup
    "libpod-wrapped": "Error response from daemon: looking up supplemental groups for container "
    "3f1c9a2e7b44d0c5a1: Unable to find group keep-groups: no matching entries in group file\n",
    # docker-compose v2's per-service line
    "compose-service": " Container winpodx-windows-1  Error response from daemon: looking up supplemental groups "
    "for container 9d2e: Unable to find group keep-groups: no matching entries in group file\n",
    # moby/sys/user's lower-case form (a user-spec lookup)
    "lower-case": "Error: unable to find group keep-groups: no matching entries in group file\n",
}


@pytest.mark.parametrize("form", sorted(_KEEP_LINES))
def test_keep_groups_resolved_as_a_name_names_the_provider(tmp_path: Path, form: str) -> None:
    got = _findings(tmp_path, _KEEP_LINES[form])
    assert got and got[0][0] == _KEEP, (form, got)
    got = _findings(tmp_path, _BANNER + _KEEP_LINES[form])
    assert got and got[0][0] == _KEEP, (form, got)
    assert _GROUP not in [c for c, _ in got[:1]]


def test_the_banner_alone_names_nothing(tmp_path: Path) -> None:
    assert _all(tmp_path, _BANNER) == []
    assert _findings(tmp_path, _BANNER + _KEEP_LINES["libpod-wrapped"])[0][0] == _KEEP


def test_docker_run_with_keep_groups_stays_a_group_name(tmp_path: Path) -> None:
    # Docker itself was given Podman's value: no compose provider; the dev log lamikr/rocm_sdk_builder#247
    text = (
        "`sudo docker run --group-add keep-groups docker.io/lamikr/rocm_sdk_builder:612_01_rdna3 bash`\n"
        "`docker: Error response from daemon: Unable to find group keep-groups: no matching entries in group file.`\n"
    )
    got = _findings(tmp_path, text)
    assert got and got[0][0] == _GROUP, got
    assert _KEEP not in _all(tmp_path, text)
    assert _findings(tmp_path, _KEEP_LINES["libpod-wrapped"])[0][0] == _KEEP


@pytest.mark.parametrize("group", ["render", "video", "dbus"])
def test_other_group_names_stay_unresolved_names(tmp_path: Path, group: str) -> None:
    for text in (
        f"Error response from daemon: Unable to find group {group}: no matching entries in group file\n",
        f"Error response from daemon: Cannot start container 53b1: [8] System error: Unable to find group {group}\n",
    ):
        got = _findings(tmp_path, text)
        assert got and got[0] == (_GROUP, "proves"), got
        assert _KEEP not in _all(tmp_path, text)
    assert _findings(tmp_path, _KEEP_LINES["libpod-wrapped"])[0][0] == _KEEP
