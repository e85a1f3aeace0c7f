"""runtime.toolkit-config-invalid: the NVIDIA Container Toolkit's config.toml does not load, so its runtime and hook
refuse every GPU container (gtk34; check reads the same file: tests/test_check_nvidia_toolkit.py).

Lines are written from the format strings of NVIDIA/nvidia-container-toolkit (not copied from any log):
- api/config/v1/toml.go loadConfigToml 'failed to load specified config file: %w' (v1.16.0..d34b3046) under the
  runtime's 'error loading config: %v' (internal/runtime/runtime.go Run) or the hook's 'failed to load config: %v'
  (cmd/nvidia-container-runtime-hook/hook_config.go getHookConfig); go-toml v1's '(line, col): message' errors;
- toml.go configNoOverrides 'failed to unmarshal config: %v' (a value of the wrong type);
- v1.13.0: internal/config/config.go 'failed to read config values: %v', the hook's log.Panicln('couldn't open
  default configuration file:', err) with BurntSushi/toml's 'toml: line %d (last key %q): ...'.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import findings as _findings

_ID = "runtime.toolkit-config-invalid"
_HOOK = (
    "docker: Error response from daemon: failed to create task for container: failed to create shim task: OCI "
    "runtime create failed: runc create failed: unable to start container process: error during container init: "
    "error running hook #0: error running hook: exit status 1, stdout: , stderr: Auto-detected mode as 'legacy'\n"
    "{line}\n: unknown.\n"
)


@pytest.mark.parametrize(
    "line",
    [
        # the hook (v1.16+): a TOML syntax error, then an unreadable file
        "failed to load config: failed to load specified config file: (9, 4): was expecting token =, but got \"true\" instead",
        "failed to load config: failed to load specified config file: open /etc/nvidia-container-runtime/config.toml: permission denied",
        # the runtime (every version since 1.13): its own wrapper around the same load
        "nvidia-container-runtime: error loading config: failed to load specified config file: (3, 1): unexpected token",
        # a value of the wrong type: go-toml's unmarshal into the typed config
        "error loading config: failed to unmarshal config: (2, 1): Can't convert false(string) to bool",
        # v1.13: the runtime's older wrapper, and the hook's panic with BurntSushi's error
        "error loading config: failed to read config values: (14, 9): keys cannot contain @ character",
        "panic: couldn't open default configuration file: toml: line 4 (last key \"nvidia-container-cli.root\"): expected value but found '/' instead",
    ],
)
def test_each_form_of_a_config_that_does_not_load_proves_it(tmp_path: Path, line: str) -> None:
    assert _findings(tmp_path, _HOOK.format(line=line))[0] == (_ID, "proves")


@pytest.mark.parametrize(
    "line",
    [
        # other programs' config errors and the toolkit's other load failures are not this id
        "Error: failed to load config: open /root/.config/app/config.yaml: no such file or directory",
        "level=error msg=\"failed to unmarshal config: yaml: line 3: mapping values are not allowed\"",
        "failed to load container state: failed to decode container state: unexpected end of JSON input",
        # the ldconfig rule of 1.17.3+ is its own id (nvidia.toolkit-ldconfig-wrong), not a file that does not parse
        "error loading config: nvidia-container-cli.ldconfig value \"/sbin/ldconfig\" is not host-relative (does not start with a '@')",
    ],
)
def test_neighbours_are_not_it(tmp_path: Path, line: str) -> None:
    assert _ID not in [c for c, _ in _findings(tmp_path, _HOOK.format(line=line))]
