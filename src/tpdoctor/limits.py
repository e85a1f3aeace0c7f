"""Caps on every count tpdoctor builds something from (lists of nodes, ranks, CPU sets).

A GPU count of 1e11 in a compose `count:`, a Kubernetes limit, `--gpus`, `--tp` or a
CCL_WORKER_COUNT would otherwise become a list of that size (16 GB+) or a loop that never ends.
The largest single systems have 8-72 GPUs per node (NVL72 is a rack); 1024 leaves room for any
real deployment while keeping every structure small. Over a cap: InputError, exit 2, one line.
"""

from __future__ import annotations

from tpdoctor.errors import InputError
from tpdoctor.model.options import MAX_PARALLEL as MAX_PARALLEL  # --tp, --pp (CheckOptions' backstop)

MAX_GPUS = 1024  # GPUs in one container/pod/host, and TP x PP on one node
MAX_WORKERS = 1024  # CCL_WORKER_COUNT and other per-rank thread counts
MAX_ENV_INT_DIGITS = 18  # an integer env var longer than this is no real setting
# Services of one audited file: compose services, `docker run` commands of a script, Kubernetes containers. Real files
# hold tens; each costs the deploy rules ~0.3-3 ms, so 250,000 one-line `docker run`s in an 8 MiB script ran for
# minutes (gsafe48). Over it: one line, exit 2, as for the other counts.
MAX_SERVICES = 10_000
MAX_TIMEOUT_S = 7 * 86400.0  # a --timeout of verify and cluster: a week without progress is a hang


def cap_seconds(value: float, what: str, cap: float = MAX_TIMEOUT_S) -> float:
    """A timeout in seconds: `inf`, `1e300` or nan reached torch's `timedelta(seconds=…)` in every rank, and
    `verify --timeout inf` reported each rank's OverflowError as a blocker of the setup (gsafe45). InputError, exit 2."""
    if not value == value or value > cap:  # nan compares false to everything
        raise InputError(f"{what} {value:g} is over tpdoctor's limit of {cap:g} seconds (a week): refusing")
    return value


def check_sizes(tp: int | None, pp: int | None) -> None:
    """--tp/--pp of check, cluster and run: exit 2 over the limit."""
    if tp is not None:
        cap_count(tp, "--tp", MAX_PARALLEL)
    if pp is not None:
        cap_count(pp, "--pp", MAX_PARALLEL)


def cap_count(value: int, what: str, cap: int = MAX_GPUS, source: str = "") -> int:
    """value when 0 <= value <= cap; InputError naming `what` (and the file) otherwise."""
    where = f"{source}: " if source else ""
    if value < 0:
        raise InputError(f"{where}{what} {value} is negative")
    if value > cap:
        raise InputError(f"{where}{what} {value} is over tpdoctor's limit of {cap}: refusing")
    return value


def cap_services(count: int, what: str, source: str) -> None:
    """An audited file's services, commands or containers: InputError past MAX_SERVICES (gsafe48)."""
    if count > MAX_SERVICES:
        raise InputError(
            f"{source}: over {MAX_SERVICES} {what}, more than tpdoctor audits in one file: refusing; split the file"
        )


def parse_count(raw: object, what: str, cap: int = MAX_GPUS, source: str = "") -> int:
    """An integer count from YAML/CLI/env text (`2`, "2", 2.0); InputError for anything else."""
    where = f"{source}: " if source else ""
    if isinstance(raw, bool):
        raise InputError(f"{where}{what} must be a number, not {raw!r}")
    if isinstance(raw, float):
        if raw != raw or raw in (float("inf"), float("-inf")) or raw != int(raw):
            raise InputError(f"{where}{what} must be a whole number, not {raw!r}")
        return cap_count(int(raw), what, cap, source)
    if isinstance(raw, int):
        return cap_count(raw, what, cap, source)
    text = str(raw).strip()
    # ASCII digits only: `²` and `٣` are isdigit() and int() refuses the first (ValueError, gsafe50)
    if not (text.isascii() and text.isdigit()) or len(text) > MAX_ENV_INT_DIGITS:
        shown = text if len(text) <= 40 else text[:40] + "…"
        if text.isascii() and text.isdigit():
            raise InputError(f"{where}{what} {shown} is over tpdoctor's limit of {cap}: refusing")
        raise InputError(f"{where}{what} must be a number, not {shown!r}")
    return cap_count(int(text), what, cap, source)
