"""Environment validation for CCL_*, FI_*, ZE_*, ONEAPI_*, SYCL_*, NCCL_*, VLLM_* (failures.md §4)."""

from __future__ import annotations

from collections.abc import Iterator

from tpdoctor.model import CheckOptions, Evidence, Facts, Finding, make_finding
from tpdoctor.model.facts import NcclConfLine
from tpdoctor.rules.envvars import ARTICLE_SET, ARTICLE_VALUES, FI_PROVIDERS, KNOWN, PREFIXES
from tpdoctor.rules.registry import fact_rule

# High enough that two real, different variables rarely match (NCCL_IB_DISABLE vs NCCL_P2P_DISABLE
# is 0.84); a dropped or swapped letter in a long name scores above 0.9.
TYPO_CUTOFF = 0.88


def _redacted(value: str) -> bool:
    return "redacted" in value.lower() or value.strip("*") == ""


# Unknown prefixed names looked at for a typo, per check. A real environment has tens; an nccl.conf of 16 MiB in a
# hostile --root (or an --env-file) has a million, at ~0.3 ms of difflib each: minutes (gsafe41).
MAX_TYPO_CHECKS = 1000
_BY_PREFIX: dict[str, list[str]] = {}


def did_you_mean(name: str) -> str | None:
    import difflib  # only for an unknown variable name

    if not _BY_PREFIX:
        for k in KNOWN:
            _BY_PREFIX.setdefault(k.split("_", 1)[0], []).append(k)
    same_prefix = _BY_PREFIX.get(name.split("_", 1)[0], [])
    match = difflib.get_close_matches(name, same_prefix, n=1, cutoff=TYPO_CUTOFF)
    return match[0] if match else None


@fact_rule("env.unknown-variable")
def unknown_variables(facts: Facts, options: CheckOptions) -> Iterator[Finding]:
    """A variable with a oneCCL/libfabric/Level Zero/SYCL/NCCL/vLLM prefix is misspelled.

    **What it checks.** Every variable whose name starts with `CCL_`, `FI_`, `ZE_`, `ONEAPI_`,
    `SYCL_`, `NCCL_` or `VLLM_` and is not one tpdoctor knows, against the known names of the
    same prefix (difflib ratio ≥ 0.88). Names with no close known name are not reported: the
    lists of NCCL and vLLM variables are long and tpdoctor does not know them all.

    **Why it matters.** Consumers ignore names they do not read. `CCL_ZE_IPC_EXHANGE=drmfd`
    (oneCCL's own log misspells it so) leaves oneCCL on its default pidfd exchange, a different
    failure from the one the user is fixing.

    **How to fix.** Rename the variable to the suggested name.
    """
    checked = 0
    for name in sorted(facts.env):
        if not name.startswith(PREFIXES) or name in KNOWN or name != name.strip():
            continue  # a name with spaces comes from a file: nccl_conf_lines says what went wrong
        checked += 1
        if checked > MAX_TYPO_CHECKS:
            return
        guess = did_you_mean(name)
        if guess is None:
            continue
        yield make_finding(
            "env.unknown-variable",
            f"{name} is not read by {KNOWN[guess].consumer}; did you mean {guess}?",
            [(name, facts.env[name])],
            confidence="suggests",
            context={"env_name": name, "env_suggestion": guess, "env_value": facts.env[name]},
        )


@fact_rule("env.invalid-value")
def invalid_values(facts: Facts, options: CheckOptions) -> Iterator[Finding]:
    """A known variable has a value its consumer does not accept.

    **What it checks.** The value of each known variable against its valid values
    (failures.md §4): enums such as `CCL_ZE_IPC_EXCHANGE` (pidfd, drmfd, sockets),
    `CCL_ATL_TRANSPORT` (ofi, mpi), `NCCL_P2P_LEVEL`, `VLLM_WORKER_MULTIPROC_METHOD`; 0/1
    switches; integers; `CCL_DRMFD_DEV_RENDER_DIR_PATH` ending in `/`; `ONEAPI_DEVICE_SELECTOR`
    with a colon; `ZE_AFFINITY_MASK` indices; `FI_PROVIDER` provider names; `VLLM_HOST_IP`.

    **Why it matters.** oneCCL throws at init on an unknown enum value (blocker); most other
    consumers silently fall back to their default, so the setting has no effect. A
    `CCL_DRMFD_DEV_RENDER_DIR_PATH` without the trailing `/` makes oneCCL open
    `/run/by-pathpci-…-render`.

    **How to fix.** Use one of the listed values.
    """
    for name in sorted(facts.env):
        spec = KNOWN.get(name)
        value = facts.env[name]
        if spec is None or _redacted(value):
            continue
        problem = spec.problem(value)
        if problem is None and name == "FI_PROVIDER":
            unknown = [
                p
                for p in value.lstrip("^").replace(",", ";").split(";")
                if p and p.split("_")[-1] not in FI_PROVIDERS
            ]
            problem = f"unknown provider {', '.join(unknown)}" if unknown else None
        if problem is None:
            continue
        yield make_finding(
            "env.invalid-value",
            f"{name}={value}: {problem} ({spec.consumer}).",
            [(name, value)],
            severity=spec.invalid_severity,
            context={"env_name": name, "env_value": value},
        )


def _conf_evidence(line: NcclConfLine) -> Evidence:
    return Evidence(source=line.path, line=line.line, text=f"{line.name}={line.value}")


def _quoted(value: str) -> bool:
    return len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'"


@fact_rule("env.unknown-variable", "env.invalid-value")
def nccl_conf_lines(facts: Facts, options: CheckOptions) -> Iterator[Finding]:
    """An NCCL configuration file's line that does not set what it says.

    **What it checks.** Each `NAME=VALUE` line of the files NCCL reads before any variable
    (`$NCCL_CONF_FILE` or `~/.nccl.conf`, then `/etc/nccl.conf`; NVIDIA/nccl src/misc/param.cc
    setEnvFile): a name with spaces around it (`NCCL_DEBUG = INFO`), and a value in quotes
    (`NCCL_SOCKET_IFNAME="eth0"`). The lines the environment does not override are also checked
    as variables by the other `env.*` rules, their evidence naming the file and line.

    **Why it matters.** NCCL takes the bytes before the first `=` as the name and the rest as
    the value, untrimmed and unquoted: the first sets a variable named `NCCL_DEBUG ` that
    nothing reads, the second makes NCCL look for an interface named `"eth0"`. These files are
    often written by a cloud or HPC image for another machine (skypilot#2905), not by the job.

    **How to fix.** Write `NAME=VALUE` with no spaces and no quotes, or remove the line; the
    environment overrides a file's line (`NCCL_X=... tpdoctor check` to try).
    """
    for line in facts.nccl_conf:
        name = line.name.strip()
        if not name.startswith(PREFIXES):
            continue
        if name != line.name and name not in facts.env:
            yield make_finding(
                "env.unknown-variable",
                f"{line.path} line {line.line} sets {line.name!r}, with spaces: NCCL does not trim them, so "
                f"{name} is not set; write {name}={line.value.strip()}.",
                [_conf_evidence(line)],
                confidence="proves",
                context={"env_name": line.name, "env_suggestion": name, "env_value": line.value.strip()},
            )
        elif line.applied and name == line.name and _quoted(line.value):
            yield make_finding(
                "env.invalid-value",
                f"{line.path} line {line.line}: {name}={line.value}: NCCL keeps the quotes as part of the value "
                f"(the file is not a shell script); write {name}={line.value[1:-1]}.",
                [_conf_evidence(line)],
                context={"env_name": name, "env_value": line.value},
            )


def from_conf_files(findings: list[Finding], facts: Facts) -> None:
    """Evidence `(NAME, value)` of a variable that an NCCL configuration file set names that file and line,
    so the user edits the file, not an environment that never held it."""
    applied = {c.name: c for c in facts.nccl_conf if c.applied}
    if not applied:
        return
    for finding in findings:
        for i, ev in enumerate(finding.evidence):
            conf = applied.get(ev.source or "")
            if conf is not None and ev.text == conf.value and ev.line is None:
                finding.evidence[i] = _conf_evidence(conf)


def _article_where_wrong(name: str, facts: Facts, options: CheckOptions) -> str | None:
    """A note when the article's setting is wrong on *this* system."""
    if name == "CCL_ZE_IPC_EXCHANGE":
        value = facts.env[name].strip().lower()
        if options.pp > 1 and value == "sockets":
            return "WRONG HERE: pipeline parallel needs send/recv, which sockets cannot do"
        probe = facts.probes.pidfd_self_test if facts.probes else None
        # only sockets and pidfd are replaced by drmfd when the self-test fails; drmfd is kept
        if probe is not None and not probe.ok and value in ("sockets", "pidfd"):
            return "WRONG HERE: the pidfd self-test fails, so oneCCL >= 2021.14 uses drmfd instead"
    if name == "CCL_WORKER_COUNT" and facts.cpu.allowed is not None and facts.cpu.online:
        raw = facts.env[name].strip()
        # capped by the CPUs that exist: a huge count must not build a huge set
        count = min(int(raw), facts.cpu.online) if raw.isdigit() and len(raw) <= 18 else 1
        last = set(range(facts.cpu.online - count, facts.cpu.online))
        if not last <= set(facts.cpu.allowed) and "CCL_WORKER_AFFINITY" not in facts.env:
            return f"WRONG HERE: auto affinity picks CPUs {sorted(last)}, outside the cpuset"
    if name == "FI_PROVIDER" and (facts.shm.size_bytes or 1 << 62) < 256 << 20:
        return "WRONG HERE: /dev/shm is smaller than 256 MiB"
    return None


@fact_rule("env.article-set")
def article_settings(facts: Facts, options: CheckOptions) -> Iterator[Finding]:
    """The ipex-llm article's recommended environment, explained.

    **What it checks.** Whether `SYCL_CACHE_PERSISTENT=1`, `CCL_WORKER_COUNT=2`,
    `FI_PROVIDER=shm`, `CCL_ATL_TRANSPORT=ofi` and `CCL_ZE_IPC_EXCHANGE=sockets` (ipex-llm's
    `start-vllm-service.sh`) are set, and for each, what it does and whether it is wrong on this
    system: sockets with pipeline parallel or a failing pidfd self-test (overridden by oneCCL ≥
    2021.14, oneCCL issue #213), worker pinning outside the cpuset, shm provider with a small
    /dev/shm.

    | variable | what it does | where it is wrong |
    |---|---|---|
    | `SYCL_CACHE_PERSISTENT=1` | keeps JIT-compiled kernels in `SYCL_CACHE_DIR` | read-only root without a writable cache dir (silent) |
    | `CCL_WORKER_COUNT=2` | two oneCCL workers per rank | auto affinity pins them to the host's last cores, outside a cpuset |
    | `FI_PROVIDER=shm` | libfabric over shared memory + CMA | across nodes; small /dev/shm; CMA under ptrace rules |
    | `CCL_ATL_TRANSPORT=ofi` | oneCCL over libfabric, not MPI | rarely |
    | `CCL_ZE_IPC_EXCHANGE=sockets` | IPC handles over /tmp sockets | ≥ 2021.14 without pidfd (becomes drmfd); pipeline parallel |

    **Why it matters.** The set is copied between guides and containers; two of the five are
    quietly ineffective or harmful in the situations above.

    **How to fix.** Keep what fits; for the exchange mode prefer drmfd with the by-path mount or
    pidfd with CAP_SYS_PTRACE (see `oneccl.sockets-overridden`).
    """
    present = [n for n in ARTICLE_SET if n in facts.env]
    if not present:
        return
    evidence = []
    for name in present:
        does, wrong = ARTICLE_SET[name]
        here = _article_where_wrong(name, facts, options)
        text = f"{facts.env[name]} (article: {ARTICLE_VALUES[name]}): {does} Where it is wrong: {wrong}"
        evidence.append((name, f"{here}. {text}" if here else text))
    yield make_finding(
        "env.article-set",
        f"{len(present)} of the article's 5 recommended variables are set; see the evidence for what each does.",
        evidence,
    )
