"""From confirmed signatures and log facts to ranked causes (primary first).

Steps: (1) each signature supports its first cause; the other causes it lists become
`related` alternatives unless something else supports them on their own; (2) the data-driven
correlations of signatures.yaml relate, emit or drop causes; (3) a few fact rules that need
sets (transports per host, NCCL_CUMEM_ENABLE per process) run in code; (4) precision: the log's last
exception decides between guesses (explain/terminal.py) and a blocker the run got past (fact `run_ok`)
is a notice; (5) causes are ranked: demoted ones last, proven before suggested, causes with a specific
line before those only a generic downstream line (`downstream: true`: ncclSystemError, a watchdog
timeout, a bare SIGBUS) supports, blockers before degraded before notices, the cause on the terminal
line first among equals, earliest evidence first.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from tpdoctor.explain import differential, driver_floor, env_typos, hang, rdma_listing, vendor
from tpdoctor.explain.death import OOM
from tpdoctor.explain.error_codes import ErrorCode, code_string_of, lookup_number
from tpdoctor.explain.scanner import ScanResult, SigHit
from tpdoctor.explain.signatures import Correlation, KnowledgeBase, Signature
from tpdoctor.explain.terminal import classify
from tpdoctor.model import Evidence, Finding, get_cause, make_finding

EVIDENCE_PER_FINDING = 8
_CONTAINER_ID_HOST = re.compile(r"^[0-9a-f]{12}$")


@dataclass
class Support:
    """Everything that backs one cause."""

    cause: str
    strength: str = "suggests"
    first_line: int = 1 << 62
    order: int = 0  # position of the cause in the signature's list (0 = its main cause)
    signatures: list[str] = field(default_factory=list)
    evidence: list[SigHit] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)
    related: list[str] = field(default_factory=list)
    specific: bool = False  # backed by at least one line that is not a generic downstream consequence
    at_terminal: bool = False  # one of its lines is the log's last exception (explain/terminal.py)
    demoted: str = ""  # why it is only a notice-level guess here (the run died of something else)

    def add(
        self, sig_id: str, strength: str, hits: Iterable[SigHit], first_line: int, why: str, downstream: bool = False
    ) -> None:
        # A generic downstream line (ncclSystemError, a watchdog timeout) follows many roots: it can
        # back a cause, never prove it, even if a signature says so.
        if strength == "proves" and not downstream:
            self.strength = "proves"
        if not downstream:
            self.specific = True
        if sig_id not in self.signatures:
            self.signatures.append(sig_id)
        for h in hits:
            if all((h.line, h.source) != (e.line, e.source) for e in self.evidence):
                self.evidence.append(h)
        self.first_line = min(self.first_line, first_line)
        if why and not _restates(why, self.messages):
            self.messages.append(why)


def _support(supports: dict[str, Support], cause: str, order: int = 0) -> Support:
    """What backs `cause`, made at `order` (-1: before every signature's causes) the first time something does."""
    return supports.setdefault(cause, Support(cause=cause, order=order))


_LINE_REF = re.compile(r"\s*\(lines? [\d, -]+\)")


def _restates(why: str, messages: list[str]) -> bool:
    """`why` says what one of `messages` says already: the same text, or the same sentence about other
    lines (two correlations of one cause each matching, e.g. vLLM's no-platform and empty-device lines
    beside GKE's driver directory). The headline would repeat it nearly word for word."""
    bare = _LINE_REF.sub("", why)
    for m in messages:
        other = _LINE_REF.sub("", m)
        common = next((i for i, (a, b) in enumerate(zip(bare, other, strict=False)) if a != b), min(len(bare), len(other)))
        if bare == other or common >= max(80, 0.6 * min(len(bare), len(other))):
            return True
    return False


@dataclass
class CodeSeen:
    """An error code named in the log (by name, string or number) and where."""

    code: ErrorCode
    hit: SigHit


@dataclass
class Diagnosis:
    supports: list[Support]
    hints: list[str]
    notes: list[str]
    codes: list[CodeSeen] = field(default_factory=list)


def _condition_holds(ref: str, present: set[str], scan: ScanResult, sig_id: str = "") -> bool:
    """`sig.id`, `prefix.*` (any signature id under that prefix), `fact:key` (known), `fact:key>N` (numeric and above N) or `fact:key=V` (the only
    value seen is V: `fact:n_nodes=1` holds only when no process reported more nodes), `fact:a~b` (a value of fact a is
    also one of fact b; a PCI address without its domain is one with any, `_values_meet`), or `after:<sig.id or fact:key>`:
    that line comes after the last line of signature `sig_id` in the same file (`after:fact:run_ok`: the run got past it).
    `A&!B`: every part holds, a part after `!` must not (`fact:slurm_job_named&!fact:slurm_gpu_request`)."""
    if "&" in ref or ref.startswith("!"):
        return all(
            not _condition_holds(part[1:], present, scan, sig_id)
            if part.startswith("!")
            else _condition_holds(part, present, scan, sig_id)
            for part in ref.split("&")
        )
    if ref.startswith("after:"):
        return _seen_after(ref[6:], scan, sig_id)
    if not ref.startswith("fact:"):
        # `code.cuda.*`: any signature of that family (the error-code tables generate one per printed string)
        if ref.endswith(".*"):
            return any(p.startswith(ref[:-1]) for p in present)
        return ref in present
    if "~" in ref:
        # `fact:a~b`: some value of fact a is also a value of fact b (gprec48: the PCI address of a BAR the kernel
        # could not place is the address a GPU driver or lspci names)
        key, _, other = ref[5:].partition("~")
        return _values_meet(scan.facts.values.get(key, []), scan.facts.values.get(other.removeprefix("fact:"), []))
    if "=" in ref:
        key, _, want = ref[5:].partition("=")
        return scan.facts.values.get(key, []) == [want]
    key, _, above = ref[5:].partition(">")
    values = scan.facts.values.get(key, [])
    if not above:
        return bool(values)
    return any(v.isdigit() and int(v) > int(above) for v in values)


def _values_meet(a: list[str], b: list[str]) -> bool:
    """Some value of `a` is one of `b`; a PCI address without its domain (`84:00.0`, as lspci prints it without -D)
    is the same as one with any domain (`0000:84:00.0`), and two with domains must be equal: the domain was dropped
    from both, and a device at c05b:00:00.0 (an Azure VM's NVMe drive) was taken for the GPU at 0001:00:00.0
    (gsafe50)."""
    sa, sb = set(a), set(b)
    if sa & sb:
        return True

    def tails(values: set[str]) -> set[str]:
        return {v.split(":", 1)[1] for v in values if v.count(":") == 2}

    def bare(values: set[str]) -> set[str]:
        return {v for v in values if v.count(":") == 1}

    return bool(bare(sa) & tails(sb) or bare(sb) & tails(sa))


def _seen_after(ref: str, scan: ScanResult, sig_id: str) -> bool:
    rec = scan.signatures.get(sig_id)
    if rec is None:
        return False
    src, line = rec.last
    if ref.startswith("fact:"):
        return scan.facts.last.get((ref[5:], src), 0) > line
    other = scan.signatures.get(ref)
    return other is not None and other.last[0] == src and other.last[1] > line


def _benign_here(sig: Signature, present: set[str], scan: ScanResult) -> bool:
    if any(_condition_holds(r, present, scan, sig.id) for r in sig.benign_with):
        return True
    return bool(sig.unless) and not any(_condition_holds(r, present, scan, sig.id) for r in sig.unless)


def _codes_seen(scan: ScanResult, kb: KnowledgeBase) -> list[CodeSeen]:
    seen: dict[str, CodeSeen] = {}
    for sig_id, rec in scan.signatures.items():
        sig = kb.signature(sig_id)
        if sig.code is not None and sig.code.name not in seen and rec.evidence:
            seen[sig.code.name] = CodeSeen(sig.code, rec.evidence[0])
    for (group, value), hit in scan.codes.items():
        code = lookup_number(group, value, code_string_of(hit.groups))
        if code is not None and code.name not in seen:
            seen[code.name] = CodeSeen(code, hit)
    return sorted(seen.values(), key=lambda c: (c.hit.source, c.hit.line))


def _correlation_applies(c: Correlation, present: set[str], scan: ScanResult) -> bool:
    if not all(w in present for w in c.when):
        return False
    if c.any and not any(a in present for a in c.any):
        return False
    if any(scan.facts.get(k) is not None for k in c.absent):
        return False
    return all(
        scan.facts.get(k) is not None if v == "*" else scan.facts.get(k) == v for k, v in c.fact.items()
    )


def _format(message: str, scan: ScanResult) -> str:
    def line_of(m: re.Match[str]) -> str:
        ref = m.group(1)
        if ref.startswith("fact."):
            hit = scan.facts.first.get(ref[5:])
            return str(hit[1]) if hit else "?"
        rec = scan.signatures.get(ref)
        return str(rec.first_line) if rec else "?"

    return re.sub(r"\{line:([\w.\-]+)\}", line_of, message)


def diagnose(scan: ScanResult, kb: KnowledgeBase) -> Diagnosis:
    supports: dict[str, Support] = {}
    alternatives: dict[str, list[str]] = {}
    hints: list[str] = []
    hint_of: dict[str, set[str]] = {}  # hint -> the causes whose signatures gave it
    notes: list[str] = []
    present = set(scan.signatures)
    floor = driver_floor.below_floor(scan)
    if floor is not None:  # read by the NGC check's `unless` (fact:ngc_driver_below_floor)
        scan.facts.add("ngc_driver_below_floor", floor.floor, floor.first_line, floor.hits[0].source)
    compat = driver_floor.image_compat_libcuda(scan)
    if compat is not None:  # glearn50a: read by tf.kernel-dso-version-mismatch's benign_with and a correlation
        dso = scan.signatures["tf.kernel-dso-version-mismatch"]
        scan.facts.add("image_compat_libcuda", f"{compat[1]} (CUDA {compat[2]})", dso.first_line, dso.last[0])

    _igpu_only_in_a_target_list(scan)

    explained = _lines_that_explain_codes(scan, kb)
    for sig in kb.signatures:
        rec = scan.signatures.get(sig.id)
        if rec is None or not sig.causes:
            continue
        if sig.code is not None and all((h.source, h.line) in explained for h in rec.evidence):
            continue  # a signature reads this code in its own context (signatures.yaml `explains_codes`)
        if _benign_here(sig, present, scan):
            note = _format(sig.benign, scan)
            if note not in notes:  # sibling signatures of one line may share one note
                notes.append(note)
            continue
        main, *others = sig.causes
        # an error code (a printed CUDA/HIP/L0 string) is the API's consequence, as generic as a downstream
        # line: a specific line ranks before it, and a known non-container root explains it
        generic = sig.downstream or sig.code is not None
        s = _support(supports, main)
        # sibling signatures of one cause that read the very same lines (kubectl's `nvidia.com/gpu: 0` is read by the
        # node, capacity and any-vendor forms) are one reading: the first one's explanation says it, the others'
        # would repeat it in other words in the headline
        read = {(e.source, e.line) for e in s.evidence}
        retold = bool(read) and all((h.source, h.line) in read for h in rec.evidence)
        s.add(sig.id, sig.strength, rec.evidence, rec.first_line, "" if retold else sig.explain, generic)
        alternatives.setdefault(main, []).extend(o for o in others if o not in alternatives[main])
        if sig.hint and sig.strength == "suggests":
            hints.append(sig.hint)
            hint_of.setdefault(sig.hint, set()).add(main)

    for c in kb.correlations:
        if not _correlation_applies(c, present, scan):
            continue
        message = _format(c.message, scan)
        when_hits = [h for w in c.when for h in scan.signatures[w].evidence]
        if c.when:
            first = min(scan.signatures[w].first_line for w in c.when)
        else:  # gnew28: facts alone (`when: []`): their first lines are the evidence
            when_hits = [
                SigHit(hit[1], f"{k}={hit[0]}", hit[2], {}) for k in c.fact if (hit := scan.facts.first.get(k))
            ]
            if not when_hits:  # a fact the log never stated (a negated one alone): nothing to point at
                continue
            first = min(h.line for h in when_hits)
        if c.emit:
            s = _support(supports, c.emit)
            s.order = -1  # the correlation knows more than the signature alone: first among equals
            s.add(c.id, c.strength, when_hits, first, message, c.downstream)
            fact_hit = next(iter(scan.facts.first.get(k) for k in c.fact), None)
            if fact_hit:
                s.evidence.append(SigHit(fact_hit[1], f"{next(iter(c.fact))}={fact_hit[0]}", fact_hit[2], {}))
        elif c.relate:
            for a in c.any:
                sig = kb.signature(a)
                if a in present and sig.causes and sig.causes[0] in supports:
                    primary = supports[sig.causes[0]]
                    if c.relate not in primary.related:
                        primary.related.append(c.relate)
                    if message not in primary.messages:
                        primary.messages.append(message)
        elif c.drop:
            # a cause some line proves stays: the correlation only removes a guess
            if c.drop in supports and supports[c.drop].strength != "proves":
                supports.pop(c.drop)
                notes.append(message)
        else:
            for a in c.any:
                sig = kb.signature(a)
                if a in present and sig.causes and sig.causes[0] in supports:
                    supports[sig.causes[0]].messages.append(message)
            # The concrete line is there: the generic "rerun with NCCL_DEBUG=INFO" hint is moot.
            for w in c.when:
                hint = kb.signature(w).hint
                if hint in hints:
                    hints.remove(hint)

    codes = _codes_seen(scan, kb)
    for seen in codes:  # codes given by name or number; printed strings were signatures above
        code = seen.code
        sig_id = f"code.{code.table}.{code.name}"
        if code.klass != "cause" or not code.causes or f"{sig_id}.string" in present:
            continue
        if (seen.hit.source, seen.hit.line) in explained:
            continue
        main, *others = code.causes
        _support(supports, main).add(
            sig_id, "suggests", [seen.hit], seen.hit.line, f"{code.layer} error {code.describe()}", downstream=True
        )
        alternatives.setdefault(main, []).extend(o for o in others if o not in alternatives[main])

    if floor is not None:
        _support(supports, "cuda.driver-too-old").add("facts.ngc_driver_floor", "proves", floor.hits, floor.first_line, floor.why())
    old_driver = driver_floor.smi_driver_too_old(scan)
    if old_driver is not None and any(c.code.name == "cudaErrorInsufficientDriver" for c in codes):
        _support(supports, "cuda.driver-too-old").add(
            "facts.smi_driver_floor", "suggests", [old_driver.hit], old_driver.hit.line, old_driver.why()
        )
    # glearn50a: a CUDA the log installs or builds with (conda's cudatoolkit, torch's build) beside a driver that cannot
    # run it, with or without an error line (ai4d-iasc/trixie#6: cudatoolkit=10.2 on nvidia-smi's CUDA 10.1)
    above = driver_floor.toolkit_above_driver(scan)
    if above is not None and "cuda.driver-too-old" not in supports:
        _support(supports, "cuda.driver-too-old").add(
            "facts.toolkit_above_driver", "suggests", above.hits, above.first_line, above.why()
        )
    _release_below_driver(scan, codes, supports, notes)
    _l4t_image_above_host(codes, scan, supports, notes)
    _fact_rules(scan, supports, notes)
    _shm_stated_large(scan, supports, notes)
    # a log of the AMD stack keeps CUDA's names (HIP reads CUDA_VISIBLE_DEVICES, RCCL prints "Cuda failure")
    vendor.rename_twins(scan, supports)
    _drop_guesses_behind_a_known_root(scan, kb, codes, supports, notes)
    _arbitrate_by_terminal_error(scan, kb, supports)
    _blockers_the_run_got_past(scan, supports)
    _server_on_default_shm(scan, supports, kb, codes)
    _bare_multi_node_hang(scan, supports, notes)
    # a next step for a cause shown only as a notice, or for one a rule above dropped (a guess behind a known root,
    # a blame the context contradicts), would send the user the wrong way; a cause renamed to its ROCm twin keeps it
    live = {c for c, s in supports.items() if not s.demoted}
    hints = [h for h in hints if not hint_of.get(h) or any(c in live or vendor.twin_of(c) in live for c in hint_of[h])]

    # Alternatives a signature listed become `related` unless they are findings themselves.
    for cause, alts in alternatives.items():
        if cause in supports:
            for alt in alts:
                if alt not in supports and alt not in supports[cause].related:
                    supports[cause].related.append(alt)

    ranked = sorted(
        supports.values(),
        key=lambda s: (
            1 if s.demoted else 0,  # guesses the run's own end contradicts come last, as notices
            0 if s.strength == "proves" else 1,
            0 if s.specific else 1,  # a root-cause line before a downstream "unhandled system error"
            get_cause(s.cause).severity.rank,
            # among equals, the evidence closest to the error the run died of; a cause read from the context
            # (a correlation, a fact rule: order -1) explains that error as well as its own line does
            0 if s.at_terminal or s.order < 0 else 1,
            s.first_line,
            s.order,
            s.cause,
        ),
    )
    return Diagnosis(ranked, list(dict.fromkeys(hints)), notes, codes)


# APU (integrated GPU) targets, as in signatures.yaml's rocm_igpu_listed patterns
_IGPU_TARGETS = frozenset(
    {"gfx902", "gfx909", "gfx90c", "gfx1033", "gfx1035", "gfx1036", "gfx1037", "gfx1103", "gfx1150", "gfx1151",
     "gfx1152", "gfx1153"}
)  # fmt: skip
_INSTINCT_TARGET = re.compile(r"gfx(?:908|90a|94[0-2]|950)")


def _igpu_only_in_a_target_list(scan: ScanResult) -> None:
    """review53: glearn52a reads a target alone on its line (amdgpu-arch, offload-arch, rocm_agent_enumerator print one
    a line) as a device the host enumerates, so gfx1036 there is an iGPU. A build's target list printed one a line
    (GPU_TARGETS, PYTORCH_ROCM_ARCH split for a log) looks the same; it is told by what else stands alone beside it:
    three or more discrete targets (a desktop shows its card's target, rarely two), or an Instinct target (servers
    with those have no APU). Then an iGPU value whose first line is such a bare line is no iGPU listed."""
    facts = scan.facts
    bare = facts.values.get("rocm_bare_target", [])
    igpu = facts.values.get("rocm_igpu_listed", [])
    if not bare or not igpu:
        return
    discrete = {t for t in bare if t not in _IGPU_TARGETS}
    if len(discrete) < 3 and not any(_INSTINCT_TARGET.fullmatch(t) for t in bare):
        return
    for value in list(igpu):
        where = facts.where.get(("rocm_igpu_listed", value))
        if where is not None and where == facts.where.get(("rocm_bare_target", value)):
            facts.discard("rocm_igpu_listed", value)


def _lines_that_explain_codes(scan: ScanResult, kb: KnowledgeBase) -> set[tuple[str, int]]:
    """(source, line) of the hits of signatures that read the error code on their line themselves."""
    return {
        (h.source, h.line)
        for sig_id, rec in scan.signatures.items()
        if kb.signature(sig_id).explains_codes
        for h in rec.evidence
    }


def _not_container_roots(scan: ScanResult, kb: KnowledgeBase, codes: list[CodeSeen]) -> list[tuple[int, str]]:
    """(line, name) of each failure in the log that has no container cause: a signature marked so, an error
    code classed so (data/error_codes), a child killed by the OOM killer (explain/death.py)."""
    roots = [
        (rec.first_line, sig_id)
        for sig_id, rec in scan.signatures.items()
        if kb.signature(sig_id).root == "not-container"
    ]
    roots += [(c.hit.line, c.code.name) for c in codes if c.code.klass == "not-container"]
    oom = scan.deaths.get(OOM)
    if oom is not None:  # memory, not the container
        roots.append((oom.line, "a process killed by the OOM killer"))
    return roots


def _drop_guesses_behind_a_known_root(
    scan: ScanResult, kb: KnowledgeBase, codes: list[CodeSeen], supports: dict[str, Support], notes: list[str]
) -> None:
    """A failure with no container cause (CUDA out of memory, no kernel image for this GPU) makes every
    rank print generic errors after it (ncclSystemError, watchdog timeouts). A cause that only such
    generic lines back is then a guess the log contradicts: drop it, and say what the root is."""
    roots = _not_container_roots(scan, kb, codes)
    if not roots:
        return
    line, name = min(roots)
    for cause in [c for c, s in supports.items() if not s.specific]:
        supports.pop(cause)
        notes.append(
            f"{cause} dropped: only generic downstream errors suggested it, and line {line} ({name}) is a "
            "failure with no container cause that explains them."
        )


def _arbitrate_by_terminal_error(scan: ScanResult, kb: KnowledgeBase, supports: dict[str, Support]) -> None:
    """The last exception of the log is what the run died of (explain/terminal.py): a cause that line
    backs ranks first among equals; when that line is a failure with no container cause, a cause that
    no line proves and that the line does not back is only a guess, and a proven degraded cause (a cost
    in speed) is not why the run failed: both are shown as notices."""
    verdict = classify(scan, kb)
    if verdict is None:
        return
    t = verdict.terminal
    for s in supports.values():
        on_line = any((h.line, h.source) == (t.line, t.source) for h in s.evidence)
        s.at_terminal = on_line or any(sig in t.sigs for sig in s.signatures)
        if s.at_terminal and not on_line:
            s.evidence.append(SigHit(t.line, t.text, t.source, {}))
    if verdict.kind != "not-container":
        return
    for s in supports.values():
        if s.at_terminal:
            continue
        if s.strength != "proves":
            s.demoted = (
                f"Only a guess here: the run ended with line {t.line} ({verdict.why}), a failure with no container "
                f"cause, and no line proves {s.cause}."
            )
        elif get_cause(s.cause).severity.value == "degraded":
            # proven, but a degraded cause (a cost in speed, a setting ignored) did not end this run
            s.demoted = (
                f"Not why the run failed: it ended with line {t.line} ({verdict.why}), a failure with no container "
                f"cause; {s.cause} is real but degraded, not what stopped the run."
            )
        elif _all_before(s, scan, t.source, t.line):
            # a proven blocker that the same file shows the run getting past, to die of something else
            s.demoted = (
                f"Not why the run failed: the run got past every line behind {s.cause} and ended with line {t.line} "
                f"({verdict.why}), a failure with no container cause."
            )
        else:
            continue


def _lines_behind(s: Support, scan: ScanResult) -> list[tuple[str, int]]:
    """(source, line) of every line behind `s`: its evidence and its signatures' last hits (evidence keeps
    only the first few hits of a signature)."""
    spots = [(h.source, h.line) for h in s.evidence]
    spots += [scan.signatures[sig].last for sig in s.signatures if sig in scan.signatures]
    return spots


def _all_before(s: Support, scan: ScanResult, source: str, line: int) -> bool:
    """Every line behind `s` is in `source`, before `line`."""
    spots = _lines_behind(s, scan)
    return bool(spots) and all(src == source and ln < line for src, ln in spots)


def _blockers_the_run_got_past(scan: ScanResult, supports: dict[str, Support]) -> None:
    """A blocker stops the run where it happens. When every line behind one is followed, in the same file,
    by a line that only a run that got further prints (fact `run_ok`: NCCL's "Init COMPLETE", nccl-tests'
    bandwidth summary, a server that reports it is ready; data/signatures.yaml facts), the line did not
    block: a retry succeeded or the fallback worked. It stays visible as a notice."""
    last_ok = {src: line for (key, src), line in scan.facts.last.items() if key == "run_ok"}
    if not last_ok:
        return
    for s in supports.values():
        if s.demoted or get_cause(s.cause).severity.value != "blocker":
            continue
        spots = _lines_behind(s, scan)
        if spots and all(ln < last_ok.get(src, 0) for src, ln in spots):
            src = spots[0][0]
            s.demoted = (
                f"The run got past it: line {last_ok[src]} of {src} shows the run going on after every line behind "
                f"{s.cause}, so it did not stop the run (a retry or a fallback worked); it may still cost performance."
            )


def _is_bridge_ip(value: str) -> bool:
    try:
        ip = ipaddress.ip_address(value)
    except ValueError:
        return False
    # Docker's default bridge and user-defined networks are allocated from 172.17.0.0/16 upwards.
    return ip in ipaddress.ip_network("172.16.0.0/12")


# glearn21b: CUDA's start-up failures that a driver older than the image's CUDA also gives (the driver library finds
# no device it can run the image's CUDA on, or calls itself insufficient).
_INSUFFICIENT_DRIVER = {"cudaErrorInsufficientDriver", "CUDA_ERROR_INSUFFICIENT_DRIVER"}
_INIT_FAILURES = {"cudaErrorNoDevice", "CUDA_ERROR_NO_DEVICE", *_INSUFFICIENT_DRIVER}
_NO_GPU_GUESSES = ("device.nvidia-node-missing", "cuda.visible-devices-mismatch")


def _release_below_driver(
    scan: ScanResult, codes: list[CodeSeen], supports: dict[str, Support], notes: list[str]
) -> None:
    """An NGC release (its tag, or its notes' "requires NVIDIA Driver release N or later") beside a host driver below
    N and a CUDA start-up failure: the old driver, not a missing GPU or a mask, is the likelier reading."""
    init = [c.hit for c in codes if c.code.name in _INIT_FAILURES]
    status = scan.facts.first.get("ngc_cuinit_status")
    if status is not None and status[0] in ("100", "35"):
        init.append(SigHit(status[1], f"cuInit(0) returned {status[0]}", status[2], {}))
    if not init:
        return
    init.sort(key=lambda h: (h.source, h.line))
    old = driver_floor.release_driver_too_old(scan)
    above = driver_floor.image_above_driver(scan)
    insufficient = any(c.code.name in _INSUFFICIENT_DRIVER for c in codes)
    if old is not None:
        why, hits, detected, needed = old.why(), old.hits, old.detected, f"the {old.required}"
    elif above is not None and insufficient:
        why = (
            f"CUDA calls the driver insufficient: the image is built for CUDA {above[1]} and nvidia-smi's driver runs CUDA "
            f"up to {above[0]}. Minor-version compatibility never crosses a CUDA major: upgrade the host driver, or use "
            "the image's build for the driver's CUDA major."
        )
        hits, detected, needed = [above[2]], f"(CUDA {above[0]})", f"CUDA {above[1]}"
    else:
        if insufficient:
            _image_regression(scan, supports, notes)
            _image_older_than_gpu(scan, supports, notes)
        return
    _driver_too_old(
        supports, notes, "facts.ngc_release_driver", [init[0], *hits], why,
        f"the host driver {detected} is below {needed} the image needs, which gives the same start-up failure.",
    )


def _driver_too_old(
    supports: dict[str, Support], notes: list[str], via: str, evidence: list[SigHit], why: str, instead: str
) -> None:
    """Name cuda.driver-too-old from a CUDA start-up failure (evidence[0]) and what shows the driver is too old, and
    turn the no-GPU guesses the same failure gave into notes (`instead`: why they are not the cause)."""
    _support(supports, "cuda.driver-too-old", order=-1).add(
        via, "suggests", evidence, evidence[0].line, why
    )
    for guess in _NO_GPU_GUESSES:
        if guess in supports and supports[guess].strength != "proves":
            supports.pop(guess)
            notes.append(f"Not {guess}: {instead}")


# glearn28b: CUDA's start-up failures on a Jetson whose L4T driver is older than the image's (jetson-containers#149:
# "cudaGetDeviceCount returned 3 -> initialization error" of an r34.1 image on r32.6; 35 where the runtime says so).
_L4T_INIT_FAILURES = {"cudaErrorInitializationError", "CUDA_ERROR_NOT_INITIALIZED", *_INIT_FAILURES}


def _l4t_image_above_host(
    codes: list[CodeSeen], scan: ScanResult, supports: dict[str, Support], notes: list[str]
) -> None:
    """An L4T image of a newer release than the Jetson host (driver_floor.l4t_image_above_host) and a CUDA start-up
    failure: the host's L4T driver is too old for the image's CUDA."""
    init = sorted((c.hit for c in codes if c.code.name in _L4T_INIT_FAILURES), key=lambda h: (h.source, h.line))
    above = driver_floor.l4t_image_above_host(scan) if init else None
    if above is None:
        return
    image, host, hits = above
    why = (
        f"The image is built for L4T r{image} and the Jetson runs L4T R{host}: an image's CUDA needs the L4T (JetPack) "
        "driver of its own release or newer, and the toolkit mounts the host's older one, so CUDA fails at start-up "
        "(dusty-nv/jetson-containers: containers of one L4T major run only on that major). Use the image tag for the "
        "host's L4T release, or upgrade JetPack on the Jetson."
    )
    _driver_too_old(
        supports, notes, "facts.l4t_image_above_host", [init[0], *hits], why,
        f"an L4T r{image} image on an L4T R{host} Jetson gives the same start-up failure.",
    )


def _image_regression(scan: ScanResult, supports: dict[str, Support], notes: list[str]) -> None:
    """cudaErrorInsufficientDriver where nvidia-smi's driver runs the image tag's CUDA major and the failure came with a
    new image on the same host (LocalAI#840: a go-llama.cpp update in the image, reverted in PR #850): neither the
    driver (it covers the image's CUDA) nor the GPU wiring (the previous image ran) is the cause. Called with
    cudaErrorInsufficientDriver in the log."""
    covers = driver_floor.driver_covers_image(scan)
    if covers is None or scan.facts.get("image_update_regression") is None:
        return
    if driver_floor.smi_driver_too_old(scan) is not None:
        return
    dropped = [
        g for g in ("device.nvidia-node-missing", "cuda.driver-too-old")
        if g in supports and supports[g].strength != "proves" and all(s.startswith("code.") for s in supports[g].signatures)
    ]
    for g in dropped:
        supports.pop(g)
    if dropped:
        notes.append(
            f"CUDA calls the driver insufficient, but nvidia-smi's driver runs CUDA {covers[0]} and the image is built for "
            f"CUDA {covers[1]}, and the failure came with a new image on the same host: a regression in the image's "
            "build (a library linked or loaded wrongly), not the host driver or the container's GPU access. "
            "Try the previous image tag."
        )


def _image_older_than_gpu(scan: ScanResult, supports: dict[str, Support], notes: list[str]) -> None:
    """cudaErrorInsufficientDriver where the log's driver runs the runtime's CUDA major and the GPU's architecture is newer
    than that CUDA (glearn46a, immich-app/immich#28031): the image's CUDA predates the GPU, not a host or container
    setting; the guesses the code alone gives (a missing driver library, an old driver) are dropped."""
    older = driver_floor.image_older_than_gpu(scan)
    if older is None:
        return
    dropped = [
        g for g in ("device.nvidia-node-missing", "cuda.driver-too-old")
        if g in supports and supports[g].strength != "proves"
        and all(s.startswith("code.") or s == "insufficient-driver-with-driver-version-is-too-old" for s in supports[g].signatures)
    ]
    for g in dropped:
        supports.pop(g)
    if dropped:
        driver, runtime, cc, first = older
        notes.append(
            f"CUDA calls the driver insufficient, but the driver {driver} runs CUDA {runtime}, the runtime the log names, "
            f"and the GPU (compute capability {cc}) needs CUDA {first} or newer: the image's CUDA predates the GPU. Use "
            f"an image (or wheel) built on CUDA {first}+; no host or container setting is at fault."
        )


def _fact_rules(scan: ScanResult, supports: dict[str, Support], notes: list[str]) -> None:
    facts = scan.facts
    transports = facts.values.get("transport", [])
    if transports:
        notes.append(f"NCCL transports seen: {', '.join(transports)}")
    net = [t for t in transports if t.startswith("NET/")]
    hosts = facts.values.get("host", [])
    ips = facts.values.get("socket_ip", [])
    n_nodes = facts.get("n_nodes")
    if net and n_nodes == "1":
        notes.append(
            f"NCCL sends between GPUs of one node over {net[0]}: P2P and SHM are disabled or unusable "
            "(NCCL_P2P_DISABLE / NCCL_SHM_DISABLE, or ranks that cannot share /dev/shm); expect low bandwidth."
        )
    split_hosts = len(hosts) > 1 and all(_CONTAINER_ID_HOST.match(h) for h in hosts)
    bridge = len(ips) > 1 and all(_is_bridge_ip(i) for i in ips)
    if net and (split_hosts or bridge):
        why = (
            f"GPUs talk over {net[0]} between "
            + (
                "container hostnames " + ", ".join(hosts[:4])
                if split_hosts
                else "bridge addresses " + ", ".join(ips[:4])
            )
            + ": each rank runs in its own container on one host, so NCCL treats them as separate nodes and "
            "cannot use P2P or SHM."
        )
        _suggest_from_fact(scan, supports, "topology.ranks-split-across-containers", "transport", "via {}", why)

    cumem = facts.values.get("cumem", [])
    if len(set(cumem)) > 1:
        rec = scan.signatures.get("nccl.cumem-env-0") or scan.signatures.get("vllm.cumem-env-kept")
        s = _support(supports, "nccl.cumem-mismatch")
        s.add(
            "facts.cumem",
            "suggests",
            rec.evidence if rec else [],
            rec.first_line if rec else 1,
            f"Processes of this log run with different NCCL_CUMEM_ENABLE values ({', '.join(cumem)}).",
        )

    _nccl_two_libraries(scan, supports)

    partial = rdma_listing.partial_uverbs(scan)
    if partial is not None:
        _support(supports, "rdma.ib-device-missing", order=-1).add(
            "facts.uverbs_list", "suggests", [partial.hit], partial.hit.line, partial.why()
        )

    _rocm_double_mask(scan, supports)
    _misspelt_env(scan, supports)
    _slurm_gres_type_unconfigured(scan, supports)
    _ray_rocr_refusal(scan, supports)
    _node_group_renamed(scan, supports)
    _xpu_double_selection(scan, supports)
    _mps_users(scan, supports)
    _p2p_write_collapse(scan, supports)
    _child_deaths(scan, supports, notes)
    _sigbus_on_host(scan, supports, notes)
    _system_error_across_builds(scan, supports, notes)
    _context_picks(scan, supports)
    _ranks_over_visible(scan, supports)
    _store_host_port_blocked(scan, supports)
    if not any(sig.startswith("context.") for s in supports.values() for sig in s.signatures):
        hung = hang.note(scan)  # a hang no fact explains: say so, and how to narrow it (never a cause)
        if hung:
            notes.append(hung)

    fixed = scan.signatures.get("nccl.shm-disable-fixed-prose")
    if fixed is not None and "shm.too-small" in supports:  # glearn21c: the fix told, not the failing run's setting
        supports["shm.too-small"].messages.append(
            f"NCCL_SHM_DISABLE=1 avoided the failure (line {fixed.first_line}): NCCL's SHM transport was failing. "
            "That is most often a small /dev/shm, but with NCCL_CUMEM_ENABLE=0 (vLLM sets it) the legacy CUDA IPC "
            "path fails the same way (NVIDIA-NeMo/RL#564): check `df -h /dev/shm` and NCCL_CUMEM_ENABLE."
        )
    elif facts.get("nccl_shm_disable") == "1" and "shm.too-small" in supports:
        supports["shm.too-small"].messages.append(
            "NCCL_SHM_DISABLE=1 is set, yet /dev/shm still fails: it only disables NCCL's SHM transport; "
            "vLLM's message queue, Ray and NCCL's own allocations still use /dev/shm."
        )


# glearn21c: lines that only *blame* shared memory for a bus error (torch's DataLoader, its retellings, a SIGBUS): the
# blame is the message's guess, not a measurement of /dev/shm
_SHM_BLAME_ONLY = frozenset(
    {
        "torch.dataloader-bus-error",
        "torch.dataloader-worker-bus-error",
        "shm.bus-error-insufficient-prose",
        "sigbus.bus-error",
        "death.SIGBUS",
        "sigbus.bare-bus-error",
    }
)
LARGE_STATED_SHM = 32 << 30  # a /dev/shm this big is not outgrown by DataLoader workers' batches


def _shm_stated_large(scan: ScanResult, supports: dict[str, Support], notes: list[str]) -> None:
    """A bus error that torch's DataLoader blames on shared memory, in a log that states /dev/shm is tens of GB
    (pytorch/pytorch#26009: --ipc=host, 254GB of /dev/shm never more than 1GB used; the mounted data volume was
    at fault): the blame is the message's standard guess, not this run's cause. Only when every line behind
    shm.too-small is such a blame (an ENOSPC on /dev/shm, NCCL's segment errors, a measured 64 MiB keep it)."""
    s = supports.get("shm.too-small")
    first = scan.facts.first.get("shm_stated")
    if s is None or first is None:
        return
    blamed = {(h.source, h.line) for sig in _SHM_BLAME_ONLY if sig in scan.signatures for h in scan.signatures[sig].evidence}
    blamed |= {(h.source, h.line) for h in scan.deaths.values()}
    if not blamed or any((e.source, e.line) not in blamed for e in s.evidence):
        return  # another line (an ENOSPC on /dev/shm, NCCL's segment error, a measured size) says more than a blame
    size = differential.shm_bytes(first[0])  # the fact holds G/T sizes only
    if size is None or size < LARGE_STATED_SHM:
        return
    supports.pop("shm.too-small")
    notes.append(
        f"The bus error is blamed on shared memory, but the log states a /dev/shm of {first[0]} (line {first[1]}): "
        "not a /dev/shm size problem here. A bus error is also a mapped file that shrank or sits on a failing or "
        "full volume (the dataset's mount), hugepages or hardware."
    )


def _child_deaths(scan: ScanResult, supports: dict[str, Support], notes: list[str]) -> None:
    """A child killed by a signal, in whatever words its launcher used (explain/death.py). SIGBUS in a
    multi-process GPU job is a write past the end of a full /dev/shm mapping unless the context says
    /dev/shm is large or shared with the host: a generic (downstream) guess of shm.too-small, which any
    specific line outranks and a known non-container root drops. SIGKILL and SIGSEGV name no container
    cause: a note only (an OOM-killer report is a root, see _drop_guesses_behind_a_known_root)."""
    bus = scan.deaths.get("SIGBUS")
    if bus is not None:
        elsewhere = _shm_not_small(scan)
        if any(i in scan.signatures for i in differential.SHM_NOT_SIZE):
            pass  # a refused or vanished /dev/shm: its own signature names the cause
        elif elsewhere:
            notes.append(
                f"A child process died of SIGBUS (line {bus.line}), but {elsewhere}: not a /dev/shm size problem here "
                "(a file mapped with mmap that shrank or sits on a full filesystem, hugepages, or hardware)."
            )
        elif not _already_evidence(supports.get("shm.too-small"), bus):  # a bus-error signature's line says it already
            _support(supports, "shm.too-small").add(
                "death.SIGBUS",
                "suggests",
                [bus],
                bus.line,
                f"A child process died of SIGBUS (line {bus.line}): in a multi-process GPU job that is almost always a "
                "write past the end of a /dev/shm mapping (NCCL segments, vLLM's message queue, DataLoader workers, "
                "torch IPC) when /dev/shm is too small (Docker's default is 64 MiB).",
                downstream=True,
            )
    oom = scan.deaths.get(OOM)
    if oom is not None:
        notes.append(
            f"A child process was killed by the OOM killer (line {oom.line}): host or cgroup memory ran out; no "
            "container cause (give the job more memory, or load less at once)."
        )
        return
    meanings = {
        "SIGKILL": "usually the kernel's OOM killer (host or cgroup memory; see dmesg) or a launcher stopping the "
        "other ranks after one failed",
        # UCX and older NCCL (signature nccl.shmopen-crash) also crash so when /dev/shm is full: their own lines name that cause
        "SIGSEGV": "a crash in the program or one of its native libraries",
    }
    for name, meaning in meanings.items():
        hit = scan.deaths.get(name)
        if hit is not None:
            notes.append(
                f"A child process was killed by {name} (line {hit.line}): {meaning}; by itself no container cause."
            )


# glearn27a: lines that only report a SIGBUS (no /dev/shm, DataLoader or NCCL words of their own)
_SIGBUS_ONLY = frozenset({"elastic.child-sigbus", "sigbus.bus-error", "death.SIGBUS", "sigbus.bare-bus-error"})
_CONTAINER_FACTS = ("shm_or_container", "runtime", "cmd_shm", "ipc_mode")


def _sigbus_on_host(scan: ScanResult, supports: dict[str, Support], notes: list[str]) -> None:
    """A SIGBUS that only the death report names is no /dev/shm size problem when the log shows host memory ran out
    (Slurm's cgroup oom_kill report, the kernel's OOM killer), or when Slurm ran the job on the host and nothing names
    a container, /dev/shm, a DataLoader or NCCL's SHM transport: the host's /dev/shm is a tmpfs of half the RAM, so a
    bus error there is memory running out or a mapped file, not Docker's 64 MiB (hiyouga/LlamaFactory#2206: every
    rank SIGBUS under srun, diagnosed as GPU or host memory overflow)."""
    s = supports.get("shm.too-small")
    if s is None or s.strength == "proves":
        return
    if any(sig not in _SIGBUS_ONLY for sig in s.signatures):
        return  # a line with /dev/shm, DataLoader or NCCL words of its own backs it
    oom = scan.facts.first.get("host_mem_exhausted")
    slurm = next(
        (scan.facts.first[k] for k in ("slurm_step_ran", "slurm_batch", "slurm_job_named") if k in scan.facts.first),
        None,
    )
    if slurm is None and scan.facts.get("step_launcher") == "srun":
        slurm = scan.facts.first.get("step_launcher")
    if oom is not None:
        why = f"the log shows host memory ran out (line {oom[1]}): the bus error is memory exhaustion"
    elif slurm is not None and not any(scan.facts.get(k) is not None for k in _CONTAINER_FACTS):
        why = (
            f"Slurm ran the job on the host (line {slurm[1]}) and nothing names a container, /dev/shm, a DataLoader "
            "or NCCL's SHM transport: the host's /dev/shm is a tmpfs of half the RAM, so this is memory running out "
            "(host or GPU) or a mapped file that shrank"
        )
    else:
        return
    supports.pop("shm.too-small")
    notes.append(f"Processes died of SIGBUS, but {why}; not a container's /dev/shm size. Check dmesg and memory use.")


def _ranks_over_visible(scan: ScanResult, supports: dict[str, Support]) -> None:
    """glearn37a: `invalid device ordinal` read as a mask problem, in a log whose launcher starts several ranks on one
    node (torchrun --nproc-per-node, accelerate --num_processes on one machine, deepspeed --num_gpus): each rank
    selects the GPU of its local rank, so ranks past the visible GPUs fail the same way (KimMeen/Time-LLM#10:
    accelerate asked for more processes than the box had GPUs). Say so beside the mask reading."""
    s = supports.get("cuda.visible-devices-mismatch")
    if s is None or scan.facts.get("ordinal") is None:
        return
    facts = scan.facts
    for key, flag in (
        ("cmd_nproc_per_node", "--nproc-per-node"),
        ("nproc_per_node", "--nproc-per-node"),
        ("accelerate_num_processes", "accelerate --num_processes"),
    ):
        value = facts.get(key)
        if not (value and value.isdigit() and int(value) > 1):
            continue
        if key == "accelerate_num_processes" and "1" != (facts.get("nnodes") or facts.get("accelerate_num_machines") or "1"):
            continue  # over several machines: not the ranks of this node
        first = facts.first.get(key)
        where = f", line {first[1]}" if first else ""
        message = (
            f"The launcher starts {value} ranks on this node ({flag} {value}{where}), and each rank selects the GPU "
            f"of its local rank: if fewer than {value} GPUs are visible (nvidia-smi -L, torch.cuda.device_count()), "
            "more ranks were started than GPUs are visible, and the ranks past the last one fail with invalid device "
            f"ordinal. Start at most as many ranks as visible GPUs ({flag} = the visible count)."
        )
        if message not in s.messages:
            s.messages.append(message)
        return


# glearn37a: the generic NCCL lines that only *guess* /dev/shm (ncclSystemError's string)
_NCCL_SYSTEM_ERROR_ONLY = frozenset({"nccl.unhandled-system-error"})


def _system_error_across_builds(scan: ScanResult, supports: dict[str, Support], notes: list[str]) -> None:
    """A bare `unhandled system error` guesses /dev/shm only because that is the usual container reason. When the
    report names two CUDA builds (cu126 and cu128: the error followed the torch/CUDA build it ran) and nothing names a
    container, /dev/shm or a bus error, the build is the variable the reporter changed: a version/ABI combination,
    not the container (modelscope/ms-swift#6495: NCCL Error 3 with cu126, Error 2 with cu128 + torch 2.8.0, fixed by
    cu128 + torch 2.7.1). A /dev/shm line, a container or a SIGBUS keeps the guess."""
    s = supports.get("shm.too-small")
    if s is None or s.strength == "proves" or not set(s.signatures) <= _NCCL_SYSTEM_ERROR_ONLY:
        return
    builds = sorted(set(scan.facts.values.get("cuda_build_tag", [])))
    if len(builds) < 2 or any(scan.facts.get(k) is not None for k in _CONTAINER_FACTS):
        return
    supports.pop("shm.too-small")
    first = scan.facts.first.get("cuda_build_tag")
    where = f" (line {first[1]})" if first else ""
    notes.append(
        f"NCCL's unhandled system error is reported under different CUDA builds ({', '.join('cu' + b for b in builds)})"
        f"{where} and nothing names a container, /dev/shm or a bus error: the error follows the torch/CUDA/NCCL build, "
        "a version combination rather than /dev/shm. Try the torch build the framework documents (matching CUDA and "
        "NCCL), and rerun with NCCL_DEBUG=INFO: the WARN line before the error names the failing call."
    )


def _already_evidence(s: Support | None, hit: SigHit) -> bool:
    return s is not None and any((e.source, e.line) == (hit.source, hit.line) for e in s.evidence)


def _server_on_default_shm(
    scan: ScanResult, supports: dict[str, Support], kb: KnowledgeBase, codes: list[CodeSeen]
) -> None:
    """Nothing else found, and the log quotes a `docker run` / `podman run` / compose service / pod of a tensor-parallel server (--num-shard,
    --tensor-parallel-size, --tp > 1) with Docker's 64 MiB /dev/shm (no --shm-size, no --ipc=host, no /dev/shm mount)
    next to an error: the shards exchange NCCL and IPC buffers through /dev/shm, which TGI, vLLM and SGLang document
    as needing --shm-size (1g and more) or --ipc=host (glearn16b; huggingface/text-generation-inference#1655)."""
    if supports or not scan.error_lines or scan.facts.get("cmd_shm") != "default":
        return
    if _not_container_roots(scan, kb, codes):
        return  # the log names a failure with no container cause (a model that cannot be sharded, OOM; glearn18a)
    engine = scan.facts.get("cmd_engine") or ""
    if engine not in ("docker", "podman", "nerdctl", "compose", "kubernetes"):
        return
    sizes = [int(v) for v in scan.facts.values.get("cmd_tp_size", []) if v.isdigit() and 1 < int(v) <= 4096]
    if not sizes:
        return
    why = (
        f"The quoted command starts a server sharded over {max(sizes)} GPUs with the runtime's default 64 MiB "
        f"/dev/shm ({differential.DEFAULT_SHM_UNSET.get(engine, 'no --shm-size, no --ipc=host')}): its shards exchange NCCL and IPC buffers through /dev/shm and crash (a bus "
        "error, signal 7) once it fills. Nothing else in the log names a cause; add --shm-size=16g or --ipc=host."
    )
    _suggest_from_fact(scan, supports, "shm.too-small", "cmd_line", "{}", why)


def _bare_multi_node_hang(scan: ScanResult, supports: dict[str, Support], notes: list[str]) -> None:
    """Nothing else found and a run across nodes hangs early with no NCCL line at all (explain/hang.py)."""
    if supports:
        return
    pick = hang.bare_multi_node(scan)
    if pick is None:
        return
    _support(supports, pick.cause, order=-1).add(
        f"context.{pick.cause}", "suggests", pick.hits, pick.first_line, pick.why, pick.generic
    )
    hung = hang.note(scan)  # "nothing in the log selects its cause": this pick is that selection
    if hung in notes:
        notes.remove(hung)


def _shm_not_small(scan: ScanResult) -> str:
    """Why the context says /dev/shm is not the small default ("" when it does not): the quoted command
    shares the host's IPC namespace or gives at least 1 GiB, or the log shows ipc=host."""
    value = scan.facts.get("cmd_shm")
    if value == "ipc=host" or scan.facts.get("ipc_mode") == "host":
        return "the container shares the host's IPC namespace (--ipc=host)"
    if value == "mounted":
        return "the quoted command mounts its own /dev/shm volume"
    if value and value.isdigit() and int(value) >= differential.SMALL_SHM:
        return f"the quoted command gives /dev/shm {int(value) >> 20} MiB"
    if scan.facts.get("ggml_sycl_device") is not None:
        # ggml's SYCL backend (llama.cpp, whisper.cpp) is one process; its SIGBUS is a host copy into device
        # memory through a small PCI BAR (correlations sycl-sigbus-*, intel/compute-runtime#847)
        return "ggml's SYCL backend runs in one process and passes nothing through /dev/shm"
    return ""


# glearn50c: the NCCL/Gloo connect failures whose only other reading is a wrong interface (signatures.yaml)
_CONNECT_FAILURE_SIGS = frozenset({"nccl.socket-connect-failed", "nccl.connect-retry-exceeded", "gloo.pair-connect-failed"})
_IPV4_PORT = re.compile(r"(\d{1,3}(?:\.\d{1,3}){3})(?:\D{1,3}(\d{1,5}))?")
_OWN_IPV4 = re.compile(r":(\d{1,3}(?:\.\d{1,3}){3})$")


def _ipv4_port(value: str) -> tuple[str, str] | None:
    m = _IPV4_PORT.match(value)
    if m is None:
        return None
    try:
        ipaddress.IPv4Address(m.group(1))
    except ValueError:
        return None
    return m.group(1), m.group(2) or ""


def _store_host_port_blocked(scan: ScanResult, supports: dict[str, Support]) -> None:
    """A rank's NCCL/Gloo socket to the rendezvous host itself was rejected (EHOSTUNREACH, 'No route to host') or
    dropped (ETIMEDOUT) on a port other than the rendezvous port (facts glearn50c-*). NCCL and Gloo connect only
    after the store handed them their peers, so this host already reached that address on the store's port: the
    route and the interface work, and only the other ports are filtered: a host firewall that opens the rendezvous
    port alone (firewalld's default reject is icmp-host-prohibited, which the kernel reports as 'No route to host';
    a DROP rule times out). wenet-e2e/wenet#1490 ('It's because of port range'), NCCL docs troubleshooting.rst."""
    nodes = scan.facts.values.get("nnodes", [])  # the launcher's (torchrun, srun/sbatch): NCCL's nNodes is per communicator
    if nodes and all(v == "1" for v in nodes) and not any(v != "1" for v in scan.facts.values.get("n_nodes", [])):
        return  # one node (review52): every rank is on the rendezvous host, and no firewall stands between a host and itself
    rdzv: dict[str, str] = {}  # ip -> the first fact value naming it
    ports = set(scan.facts.values.get("rdzv_port", []))  # the store's ports: MASTER_PORT, and those beside an address
    for value in scan.facts.values.get("rdzv_ipv4", []):
        got = _ipv4_port(value)
        if got is not None and not got[0].startswith(("127.", "0.")):
            rdzv.setdefault(got[0], value)
            if got[1]:
                ports.add(got[1])
    if not rdzv:
        return
    # the addresses NCCL's own ranks bootstrap on ("Bootstrap : Using eth0:10.0.0.5"): when the log shows only the peer's,
    # the rank connected to its own host (one node), where no firewall stands between the ranks (review52)
    own = {m.group(1) for v in scan.facts.values.get("bootstrap", []) if (m := _OWN_IPV4.search(v))}
    for key in ("peer_unreach", "peer_unreach2", "peer_unreach3", "peer_unreach4", "peer_unreach5"):
        for value in scan.facts.values.get(key, []):
            got = _ipv4_port(value)
            if got is None or got[0] not in rdzv or got[1] in ports or own == {got[0]}:
                continue  # another host, a store's own port (the store itself failed), or this rank's own host
            line, source = scan.facts.where[(key, value)]
            rdzv_line = scan.facts.where[("rdzv_ipv4", rdzv[got[0]])][0]
            why = (
                f"This rank could not open a socket to {got[0]} on port {got[1]} (line {line}), yet {got[0]} is the "
                f"job's rendezvous host (line {rdzv_line}), which the store already reached: the "
                "route and the interface work, and only the other ports are filtered. A host firewall (firewalld, "
                "ufw, iptables, a security group) that opens only the rendezvous port rejects NCCL's and Gloo's "
                "ephemeral ports ('No route to host' is firewalld's icmp-host-prohibited reject; a DROP times out)."
            )
            hit = SigHit(line, f"connect to {value}", source, {})
            s = _support(supports, "network.port-blocked", order=-1)
            s.add("facts.peer_port_unreachable", "suggests", [hit], line, why)
            wrong = supports.get("network.wrong-interface")
            if wrong is not None and wrong.strength != "proves" and set(wrong.signatures) <= _CONNECT_FAILURE_SIGS:
                supports.pop("network.wrong-interface")
            if "network.wrong-interface" not in supports and "network.wrong-interface" not in s.related:
                s.related.append("network.wrong-interface")
            return


def _context_picks(scan: ScanResult, supports: dict[str, Support]) -> None:
    """An ambiguous symptom plus the context that selects its cause (explain/differential.py): the pick
    is `suggests`, first among equals (order -2: before a correlation's -1 and the symptom's own guess)."""
    for pick in [*differential.picks(scan), *hang.picks(scan)]:
        s = _support(supports, pick.cause)
        s.order = min(s.order, -2)
        s.add(f"context.{pick.cause}", "suggests", pick.hits, pick.first_line, pick.why, pick.generic)
        s.messages.remove(pick.why)
        s.messages.insert(0, pick.why)  # what this log's context says first, the symptom's generic reading after
        for cause, sigs in pick.contradicts.items():
            other = supports.get(cause)
            if other is not None and other.strength == "proves" and set(other.signatures) <= set(sigs):
                other.strength = "suggests"
                other.messages.append(f"Here the same line also fits {pick.cause} (the quoted command): not proven.")


def _p2p_write_collapse(scan: ScanResult, supports: dict[str, Support]) -> None:
    """cuda-samples' p2pBandwidthLatencyTest quoted with peer writes far slower than the copy staged through the
    host (explain/p2p_bandwidth.py): peer access is granted but an IOMMU or PCIe ACS breaks the path, and NCCL's
    P2P transport uses the same path (glearn12b; NVIDIA/nccl docs troubleshooting.rst "PCI Access Control Services
    (ACS)", "IOMMU")."""
    if "p2p_write_collapse" not in scan.facts.first:
        return
    why = (
        "p2pBandwidthLatencyTest measured GPU peer writes far below a copy staged through host memory ({}): peer "
        "access is granted, but an IOMMU (AMD-Vi / VT-d) or PCIe ACS routes peer traffic through the root complex, "
        "and NCCL's P2P transport takes the same path (a hang or a bandwidth collapse)."
    ).format(scan.facts.first["p2p_write_collapse"][0])
    _suggest_from_fact(scan, supports, "nccl.p2p-unsupported", "p2p_write_collapse", "P2P write {}", why)


def _suggest_from_fact(
    scan: ScanResult, supports: dict[str, Support], cause: str, key: str, shown: str, why: str
) -> None:
    """A fact rule's support for `cause`: `suggests`, its evidence the line where fact `key` was first
    seen, displayed as `shown` with the fact's value in its `{}`."""
    first = scan.facts.first.get(key)
    hits = [SigHit(first[1], shown.format(first[0]), first[2], {})] if first else []
    _support(supports, cause, order=-1).add(
        f"facts.{key}", "suggests", hits, first[1] if first else 1, why
    )


def _nccl_two_libraries(scan: ScanResult, supports: dict[str, Support]) -> None:
    """Two NCCLs in one log (gnew32a): libnccl.so.2 listed at two versions (ls -l / find / vLLM's 'Loading nccl from
    library', NVIDIA/nccl#1784: the image's /usr/lib 2.23.4 beside a build's 2.27.0), or NCCL banners of two CUDA majors
    ('NCCL version 2.14.3+cuda11.7' beside '...+cuda12.1'). Two versions of one CUDA major in banners are left alone:
    vLLM 0.4.0-0.4.2 ran its own pinned libnccl beside torch's by design."""
    for key, what in (("nccl_lib_copy", "libnccl.so.{}"), ("nccl_banner_cuda", "NCCL built for CUDA {}")):
        values = sorted(set(scan.facts.values.get(key, [])))
        if len(values) < 2:
            continue
        shown = ", ".join(what.format(v) for v in values)
        _suggest_from_fact(
            scan,
            supports,
            "nccl.library-conflict",
            key,
            what,
            f"The log shows two NCCLs ({shown}): the process may load one its framework or application was not "
            "built against. Keep one: remove the extra wheel or copy, or the LD_LIBRARY_PATH entry that puts it first.",
        )
        return


def _misspelt_env(scan: ScanResult, supports: dict[str, Support]) -> None:
    """A command the log quotes sets an NCCL_/CUDA_ variable whose name is one slip away from a real one
    (`-e NCCL_SHM_DISBLAE=1`, h2oai/h2ogpt#295): NCCL and CUDA read only names they know, so the setting is silently
    not applied (glearn20c; explain/env_typos.py says which names and slips count)."""
    for text in scan.facts.values.get("env_assign_text", []):
        for name, real, consumer in env_typos.typos_in(text):
            line, source = scan.facts.where[("env_assign_text", text)]  # every kept value has its line
            hits = [SigHit(line, text[:300], source, {})]
            _support(supports, "env.unknown-variable", order=-1).add(
                "facts.env_assign_text",
                "suggests",
                hits,
                line,
                f"{name} is set, but {consumer} reads no variable of that name; did you mean {real}? The setting "
                "is silently not applied.",
            )
            return


def _node_group_renamed(scan: ScanResult, supports: dict[str, Support]) -> None:
    """One GPU node shown with two group names (two `ls -l` of the same major:minor, or two `stat` of one
    GID): the listings come from two /etc/group files, the host's and the container's, and the container
    names the node's GID after another group. Its user in the container's own `render` group is then not
    in the node's group (heldout8 lesson: host render = GID 992 = the image's clock group). A `docker run
    --group-add render` resolves the name in the image's /etc/group for the same reason (moby
    daemon/oci_linux.go getUser)."""
    by_node: dict[str, set[str]] = {}
    for value in scan.facts.values.get("gpu_node_group", []):
        name, _, node = value.partition(" ")
        by_node.setdefault(re.sub(r"\s+", "", node), set()).add(name)
    for value in scan.facts.values.get("stat_char_gid", []):
        gid, _, name = value.partition("/")
        by_node.setdefault("gid " + gid.strip(), set()).add(name.strip())
    renamed = {node: names for node, names in by_node.items() if len(names) > 1}
    if not renamed:
        return
    node, names = sorted(renamed.items())[0]
    key = "stat_char_gid" if node.startswith("gid ") else "gpu_node_group"
    _suggest_from_fact(
        scan,
        supports,
        "device.group-denied",
        key,
        "{}",
        f"The same GPU node ({node}) shows the groups {', '.join(sorted(names))} in two listings: the host and "
        "the container name its GID differently, so a user in the container's group of the host's name is not in "
        "the node's group. Grant the node's numeric GID (group_add: [\"<gid>\"] / --group-add <gid>).",
    )


def _slurm_gres_type_unconfigured(scan: ScanResult, supports: dict[str, Support]) -> None:
    """A typed Slurm GPU request (--gres=gpu:<type>:N, --gpus-per-node=<type>:N) for a type that no gres.conf
    `Name=gpu Type=` line nor slurm.conf node `Gres=gpu:<type>:N` of the same log configures: no node of the
    cluster offers that GRES type, so slurmctld refuses the job or step (ESLURM_INVALID_GRES) or it never starts
    (glearn18b: aws/aws-parallelcluster#5880, a generated gres.conf with only Type=t4 and --gpus-per-node=a10g:1)."""
    requested = scan.facts.values.get("slurm_gpu_type_req", [])
    configured = scan.facts.values.get("slurm_gpu_type_conf", [])
    if not requested or not configured:
        return
    known = {c.lower() for c in configured}
    missing = [r for r in requested if r.lower() not in known]
    if not missing:
        return
    _suggest_from_fact(
        scan,
        supports,
        "slurm.gres-unavailable",
        "slurm_gpu_type_req",
        "GPU types requested: " + ", ".join(requested[:4]) + " (first: {})",
        f"The job asks for GPU type {missing[0]}, but the Slurm configuration shown defines only "
        f"{', '.join(configured[:4])} (gres.conf Type= / the nodes' Gres=): no node offers that GRES, "
        "so Slurm refuses the request or leaves it pending. Request a configured type (`sinfo -o '%P %G'`), or add "
        "the type to gres.conf and the nodes' Gres= (regenerate the cluster's Slurm config for the new instances).",
    )


def _rocm_mask_counts(rocr: str, hip: str) -> tuple[int, int] | None:
    """(how many GPUs ROCR_VISIBLE_DEVICES leaves, the highest index HIP_VISIBLE_DEVICES selects among them), or
    None when HIP's mask names no index: HIP indexes ROCr's list renumbered from 0, so the masks agree exactly
    when the second is below the first."""
    hip_ix = [int(x) for x in hip.split(",") if x.isdigit()]
    if not hip_ix:
        return None
    return len([x for x in rocr.split(",") if x]), max(hip_ix)


def _rocm_double_mask(scan: ScanResult, supports: dict[str, Support]) -> None:
    """HIP_VISIBLE_DEVICES indexes the GPUs that ROCR_VISIBLE_DEVICES left, renumbered from 0
    (ROCm docs, "GPU isolation techniques"; ROCm/clr hipamd applies HIP_VISIBLE_DEVICES to the
    devices ROCr enumerates): an index at or beyond the ROCr list's length selects nothing."""
    facts = scan.facts
    rocr, hip = facts.get("rocr_visible_devices"), facts.get("hip_visible_devices")
    if not rocr or not hip:
        return
    counts = _rocm_mask_counts(rocr, hip)
    if counts is None or counts[1] < counts[0]:
        return
    rocr_n = counts[0]
    _suggest_from_fact(
        scan,
        supports,
        "rocm.visible-devices-mismatch",
        "hip_visible_devices",
        "HIP_VISIBLE_DEVICES={}",
        f"ROCR_VISIBLE_DEVICES={rocr} leaves {rocr_n} GPU(s), renumbered from 0, and HIP_VISIBLE_DEVICES={hip} "
        "then selects an index beyond them: HIP sees no GPU. Set only one of the two (ROCR_VISIBLE_DEVICES in "
        "containers), or index HIP_VISIBLE_DEVICES from 0.",
    )


_RAY_ROCR_REFUSAL = re.compile(r"instead of ROCR_VISIBLE_DEVICES")


def _ray_rocr_refusal(scan: ScanResult, supports: dict[str, Support]) -> None:
    """Ray 2.45-2.46 (python/ray/_private/accelerators/amd_gpu.py) raised "Please use HIP_VISIBLE_DEVICES instead
    of ROCR_VISIBLE_DEVICES" whenever ROCR_VISIBLE_DEVICES was set, even when HIP_VISIBLE_DEVICES selected the
    same GPUs; ray-project/ray#53757 made it ignore ROCR when HIP is set (ray-project/ray#53737). When that refusal
    is all that backs rocm.visible-devices-mismatch and both masks are known and consistent (every HIP index
    within what ROCR leaves, _rocm_mask_counts), the masks do not disagree: Ray's check is the problem."""
    s = supports.get("rocm.visible-devices-mismatch")
    # the signature itself or its loose twin (the same fixed words retold: "rocm.visibility-conflict~loose")
    if s is None or s.demoted or {x.split("~")[0] for x in s.signatures} != {"rocm.visibility-conflict"}:
        return
    if not s.evidence or not all(_RAY_ROCR_REFUSAL.search(h.text) for h in s.evidence):
        return
    rocr, hip = scan.facts.values.get("rocr_visible_devices", []), scan.facts.values.get("hip_visible_devices", [])
    if len(set(rocr)) != 1 or len(set(hip)) != 1:
        return
    counts = _rocm_mask_counts(rocr[0], hip[0])
    if counts is None or counts[1] >= counts[0]:
        return
    s.demoted = (
        f"ROCR_VISIBLE_DEVICES={rocr[0]} and HIP_VISIBLE_DEVICES={hip[0]} agree (HIP indexes what ROCR leaves): "
        "Ray 2.45-2.46 refused ROCR_VISIBLE_DEVICES whenever it was set, a Ray check fixed in ray-project/ray#53757; "
        "unset ROCR_VISIBLE_DEVICES or upgrade Ray."
    )


def _xpu_double_selection(scan: ScanResult, supports: dict[str, Support]) -> None:
    """Level Zero applies ZE_AFFINITY_MASK in the driver and numbers the remaining root devices from 0
    (oneapi-src/level-zero-spec, Programming Guide "Affinity Mask"); ONEAPI_DEVICE_SELECTOR's ids are
    those sycl-ls lists (intel/llvm EnvironmentVariables.md), i.e. counted after the mask. Level Zero's
    maintainers: applications set either one or the other (oneapi-src/unified-runtime#220); vLLM's XPU
    platform selects with ZE_AFFINITY_MASK (vllm-project/vllm#21815), so a user's selector comes second."""
    facts = scan.facts
    mask, selector = facts.get("ze_affinity_mask"), facts.get("oneapi_device_selector")
    if not mask or not selector:
        return
    roots = {part.split(".")[0] for part in mask.split(",") if part}
    ids = [int(x.split(".")[0]) for x in selector.split(":", 1)[1].split(",") if x.split(".")[0].isdigit()]
    if not ids or max(ids) < len(roots):
        return
    _suggest_from_fact(
        scan,
        supports,
        "xpu.visible-devices-mismatch",
        "oneapi_device_selector",
        "ONEAPI_DEVICE_SELECTOR={}",
        f"ZE_AFFINITY_MASK={mask} leaves {len(roots)} GPU(s), numbered from 0, and ONEAPI_DEVICE_SELECTOR={selector} "
        "then asks for an index beyond them: SYCL sees no GPU. Select once (one of the two variables), or index the "
        "selector from 0 (Ray sets ONEAPI_DEVICE_SELECTOR for its GPU workers unless "
        "RAY_EXPERIMENTAL_NOSET_ONEAPI_DEVICE_SELECTOR=1).",
    )


def _mps_users(scan: ScanResult, supports: dict[str, Support]) -> None:
    """gnew42: the CUDA MPS control daemon runs one MPS server for one user at a time; a client of another user is
    queued until that server's clients are done (nvidia-cuda-mps-control(1), R331-R570). Its log names the user of
    every server it starts and every client it accepts (facts mps-server-user, mps-client-user): two users in one log
    is a container or pod whose UID differs from the other MPS clients' (NVIDIA/nvidia-docker#1543)."""
    facts = scan.facts
    servers = facts.values.get("mps_server_user", [])
    clients = facts.values.get("mps_client_user", [])
    users = list(dict.fromkeys([*servers, *clients]))
    if len(users) < 2:
        return
    first = servers[0] if servers else clients[0]
    other = next(u for u in users if u != first)
    key = "mps_client_user" if other in clients else "mps_server_user"
    line, source = facts.where[(key, other)]
    shown = f"NEW CLIENT ... from user {other}" if key == "mps_client_user" else f"Starting new server ... for user {other}"
    _support(supports, "nvidia.mps-user-mismatch", order=-1).add(
        f"facts.{key}",
        "suggests",
        [SigHit(line, shown, source, {})],
        line,
        f"The CUDA MPS control daemon serves processes of users {', '.join(users[:4])}: it runs one MPS server for "
        f"one user at a time (user {first} here) and queues a client of another user until every client of the "
        "running server has exited, so that client hangs at CUDA init (or the first user's jobs stall once its server "
        "is replaced). Run the container's processes with the same UID as the other MPS clients (docker run -u "
        f"{first}:<gid>, runAsUser), or give each user its own MPS daemon and pipe directory.",
    )


def to_findings(
    diagnosis: Diagnosis,
    context: Mapping[str, str] | None = None,
    runtimes: Iterable[str] | None = None,
) -> list[Finding]:
    wanted = set(runtimes) if runtimes else None
    findings: list[Finding] = []
    for s in diagnosis.supports:
        hits = sorted(s.evidence, key=lambda h: (h.source, h.line))[:EVIDENCE_PER_FINDING]
        evidence = [Evidence(text=h.text, source=h.source, line=h.line) for h in hits]
        f = make_finding(
            s.cause,
            " ".join([s.demoted, *s.messages] if s.demoted else s.messages),
            evidence,
            context=context,
            related=s.related,
            confidence="proves" if s.strength == "proves" else "suggests",
            severity="notice" if s.demoted else None,
        )
        if wanted is not None:
            f.fixes = [x for x in f.fixes if x.runtime in wanted]
        findings.append(f)
    return findings
