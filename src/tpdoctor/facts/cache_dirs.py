"""Where Triton, TorchInductor and torch's extension builder put the caches they compile into and then load, and where
the Hugging Face datasets library keeps its cache: the one place that knows it (grefactor48). Pure: an environment in, paths out; the callers look them up (rules/jit_cache.py
in the mounts, facts/jit_cache.py in the root). Read in the released wheels and upstream sources:

- Triton: `TRITON_CACHE_DIR`, else `TRITON_HOME` (else `HOME`) + `/.triton/cache` (2.0.0 `compiler.py`
  default_cache_dir; 2.1.0 and 3.1.0 `runtime/cache.py`); Triton 1.x: `TRITON_CACHE_DIR`, else `/tmp/triton/`
  (1.1.1 `code_gen.py`), a literal path, not the temp dir.
- TorchInductor: `TORCHINDUCTOR_CACHE_DIR`, else `tempfile.gettempdir()` + `/torchinductor_` + `getpass.getuser()`
  (torch 2.0.0 `_inductor/codecache.py` cache_dir; torch 2.5.1 `_inductor/runtime/runtime_utils.py`
  default_cache_dir, later `runtime/cache_dir_utils.py`, the user name with `\\/:*?"<>|` made `_`). One directory per
  user *name*. `tempfile.gettempdir()` is the first of `TMPDIR`, `TEMP`, `TMP` naming a usable directory, else
  /tmp (CPython Lib/tempfile.py _candidate_tempdir_list); `getpass.getuser()` the first of `LOGNAME`, `USER`,
  `LNAME`, `USERNAME` that is set, else the password database's name for the uid (CPython Lib/getpass.py).
- torch's extension builder: `TORCH_EXTENSIONS_DIR`, else `get_default_build_root()` (torch/utils/cpp_extension.py
  `_get_build_directory`): the user's cache directory (`torch._appdirs.user_cache_dir`: `XDG_CACHE_HOME`, else
  `~/.cache`) + `/torch_extensions` from 1.6.0 (read at 1.6.0, 1.7.1, 1.8.1, 1.9.0, 1.10.0, 2.5.1);
  `tempfile.gettempdir()/torch_extensions` in 1.4.0 and 1.5.1."""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

# getpass.getuser(): the first of these that is set, else the password database's name for the uid
USER_VARS = ("LOGNAME", "USER", "LNAME", "USERNAME")
# tempfile._candidate_tempdir_list: TMPDIR, TEMP, TMP, then /tmp, /var/tmp, /usr/tmp
TMP_VARS = ("TMPDIR", "TEMP", "TMP")
# torch/_inductor/runtime/runtime_utils.py default_cache_dir's sanitizer
_UNSAFE_NAME = re.compile(r'[\\/:*?"<>|]')
MAX_NAME = 256


@dataclass(frozen=True)
class CacheDir:
    """One cache directory as its library picks it. `base`: "env" where a variable names it (TRITON_CACHE_DIR,
    TRITON_HOME, TORCHINDUCTOR_CACHE_DIR, TORCH_EXTENSIONS_DIR), "tmp" for a default under the temp dir, "home" for a
    default under HOME or XDG_CACHE_HOME."""

    what: str
    path: str
    base: Literal["env", "tmp", "home"]
    # the release below which this default applies (an old release's location), else None: every current release
    before: tuple[str, tuple[int, int]] | None = None

    @property
    def explicit(self) -> bool:
        return self.base == "env"


def absolute(path: str) -> str | None:
    """The normalized absolute path, None for a relative one. "/" + lstrip: normpath keeps a leading '//' (POSIX
    leaves it open), which Linux resolves as '/'."""
    if not path.startswith("/"):
        return None
    return posixpath.normpath("/" + path.lstrip("/"))


def env_user(env: Mapping[str, str]) -> str | None:
    """getpass.getuser()'s answer from the environment alone (LOGNAME, USER, LNAME, USERNAME), None when unset."""
    for name in USER_VARS:
        value = env.get(name, "")
        if value:
            return value[:MAX_NAME]
    return None


def temp_dir(
    env: Mapping[str, str], is_dir: Callable[[str], bool] | None = None, cwd: str | None = None
) -> tuple[str, str | None]:
    """tempfile.gettempdir() as the job would get it, and the variable that gave it: the first of TMPDIR, TEMP, TMP
    naming a directory (`is_dir`, where the caller can look; else any path), else ("/tmp", None). A relative one is
    the job's `cwd` joined with it, as tempfile's os.path.abspath makes it; without a cwd it is skipped."""
    for name in TMP_VARS:
        raw = env.get(name, "")
        if raw and not raw.startswith("/") and cwd is not None:  # tempfile: `if dir != os.curdir: abspath(dir)`
            raw = posixpath.join(cwd, raw)
        value = absolute(raw)
        if value is not None and (is_dir is None or is_dir(value)):
            return value, name
    return "/tmp", None


def inductor_default(tmp: str, tmp_var: str | None, user: str | None) -> CacheDir:
    """TorchInductor's default cache: the temp dir + torchinductor_<user>; the temp dir itself where the user name
    is not known (the mount that holds it is the one that holds the cache, unless a mount sits at the cache)."""
    shown = tmp_var or "/tmp"
    if user:
        return CacheDir(f"TorchInductor's default cache ({shown} + torchinductor_<user>, user {user!r})",
                        posixpath.join(tmp, "torchinductor_" + _UNSAFE_NAME.sub("_", user)), "tmp")
    return CacheDir(f"TorchInductor's default cache ({shown} + torchinductor_<user>)", tmp, "tmp")


def user_cache_dir(env: Mapping[str, str]) -> str | None:
    """The user's cache directory as torch._appdirs.user_cache_dir and datasets/config.py read it on Linux:
    XDG_CACHE_HOME, else HOME + /.cache; None with neither."""
    home = env.get("HOME", "")
    if env.get("XDG_CACHE_HOME") or home:
        return env.get("XDG_CACHE_HOME") or posixpath.join(home, ".cache")
    return None


def jit_cache_dirs(
    env: Mapping[str, str], *, user: str | None = None, tmp: tuple[str, str | None] | None = None
) -> list[CacheDir]:
    """Triton's, TorchInductor's and torch's extension builder's cache directories as the current releases pick
    them, in that order (absolute paths only; a relative one depends on the job's cwd). `user`: getpass.getuser()
    where the caller knows more than the environment (the password database); `tmp`: temp_dir's answer where the
    caller could look the directories up (else temp_dir(env), any absolute path)."""
    home = env.get("HOME", "")
    out: list[CacheDir] = []
    if env.get("TRITON_CACHE_DIR"):
        out.append(CacheDir("TRITON_CACHE_DIR", env["TRITON_CACHE_DIR"], "env"))
    elif env.get("TRITON_HOME"):
        out.append(CacheDir("Triton's cache under TRITON_HOME", posixpath.join(env["TRITON_HOME"], ".triton", "cache"),
                            "env"))
    elif home:
        out.append(CacheDir("Triton's default cache (~/.triton/cache)", posixpath.join(home, ".triton", "cache"), "home"))
    if env.get("TORCHINDUCTOR_CACHE_DIR"):
        out.append(CacheDir("TORCHINDUCTOR_CACHE_DIR", env["TORCHINDUCTOR_CACHE_DIR"], "env"))
    else:
        out.append(inductor_default(*(tmp or temp_dir(env)), user or env_user(env)))
    if env.get("TORCH_EXTENSIONS_DIR"):
        out.append(CacheDir("TORCH_EXTENSIONS_DIR", env["TORCH_EXTENSIONS_DIR"], "env"))
    elif (cache := user_cache_dir(env)) is not None:
        out.append(CacheDir("torch's extension build dir (~/.cache/torch_extensions)",
                            posixpath.join(cache, "torch_extensions"), "home"))
    return [CacheDir(c.what, p, c.base) for c in out if (p := absolute(c.path)) is not None]


def legacy_cache_dirs(env: Mapping[str, str], tmp: str) -> list[CacheDir]:
    """The defaults of releases older than the ones jit_cache_dirs describes, where no variable overrides them:
    torch before 1.6 (the temp dir + torch_extensions) and Triton 1.x (/tmp/triton). `before` names the release."""
    out: list[CacheDir] = []
    if not env.get("TORCH_EXTENSIONS_DIR"):
        out.append(CacheDir("torch's extension build root before 1.6 (the temp dir + torch_extensions)",
                            posixpath.join(tmp, "torch_extensions"), "tmp", ("torch", (1, 6))))
    if not env.get("TRITON_CACHE_DIR"):
        out.append(CacheDir("Triton 1.x's default cache (/tmp/triton)", "/tmp/triton", "tmp", ("triton", (2, 0))))
    return out


def hf_datasets_cache_dir(env: Mapping[str, str]) -> tuple[str, str] | None:
    """(what, directory) of the Hugging Face datasets cache as datasets/config.py picks it: HF_DATASETS_CACHE, else
    HF_HOME + /datasets, else the user's cache directory (XDG_CACHE_HOME, default ~/.cache) + /huggingface/datasets."""
    if env.get("HF_DATASETS_CACHE"):
        what, directory = "HF_DATASETS_CACHE", env["HF_DATASETS_CACHE"]
    elif env.get("HF_HOME"):
        what, directory = "the datasets cache under HF_HOME", posixpath.join(env["HF_HOME"], "datasets")
    elif (cache := user_cache_dir(env)) is not None:
        shown = "XDG_CACHE_HOME" if env.get("XDG_CACHE_HOME") else "~/.cache"
        what, directory = f"the default datasets cache ({shown}/huggingface/datasets)", posixpath.join(
            cache, "huggingface", "datasets"
        )
    else:
        return None
    path = absolute(directory)
    return None if path is None else (what, path)
