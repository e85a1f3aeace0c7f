"""Metamorphic tests: every signature example, pasted the way real tools print or store it (prefixes
of compose/kubectl/journald/launchers/loggers, markdown, HTML/JSON escaping, CRLF, wraps, case),
still gives its signature. The perturbations and their sources are in tests/explain_perturb.py;
bench/explain_robustness.py prints the recall table."""

from __future__ import annotations

import io

import pytest

from explain_perturb import BY_NAME, PERTURBATIONS, literal_intact, measure, perturb, recognised
from tpdoctor.explain.scanner import Scanner
from tpdoctor.explain.signatures import knowledge_base

KB = knowledge_base()
WRAPS = ("soft-wrap-80", "soft-wrap-100", "soft-wrap-120", "hard-wrap-80", "hard-wrap-120")
# c10's own `[W1201 ... file.cpp:12]` prefix is kept on purpose (dist.store-connect-retry anchors on
# it): a signature anchored at the line start (`^crw-rw----`, `^Error: stat`) cannot see past it. c10
# prints only its own messages behind it, never those.
KEPT_PREFIX = {"torch-rank-c10"}
EXACT = [p.name for p in PERTURBATIONS if p.name not in WRAPS]


@pytest.mark.parametrize("name", EXACT)
def test_every_example_survives(name: str) -> None:
    _ok, total, misses = measure(KB, [BY_NAME[name]])[name]
    assert total > 50, "the perturbation applies to too few examples to say anything"
    real = [
        (sid, text)
        for sid, text in misses
        if not (name in KEPT_PREFIX and "^" in KB.signature(sid).regex.pattern)
    ]
    assert real == [], f"{len(real)} of {total} examples lost under {name}: {real[:5]}"


@pytest.mark.parametrize("name", WRAPS)
def test_a_wrapped_example_is_found_while_a_literal_is_whole(name: str) -> None:
    # A wrap that keeps one literal (or its head or tail fragment) whole on one line must not lose the
    # signature: the scanner joins the wrapped pieces around the hit.
    _ok, total, misses = measure(KB, [BY_NAME[name]])[name]
    lost = [(sid, text) for sid, text in misses if literal_intact(KB, sid, text)]
    assert total > 100
    assert lost == [], f"{len(lost)} wrapped examples lost with a literal intact: {lost[:3]}"


def test_prefixed_nccl_lines_still_give_their_facts() -> None:
    # NCCL's `host:pid:tid [rank] NCCL INFO` anchor (src/debug.cc ncclDebugLog) behind a compose prefix
    scanner = Scanner(KB)
    text = "vllm-1  | gpu-a:123:456 [0] NCCL INFO NET/Socket : Using [0]eth0:10.0.0.7<0>\n"
    scanner.scan_stream(io.BytesIO(text.encode()), "t.log")
    assert scanner.result.facts.get("socket_ip") == "10.0.0.7"


def test_a_pattern_anchored_on_a_prefix_still_sees_it() -> None:
    # klog (client-go rest/warnings.go through klog's header 'Lmmdd hh:mm:ss.uuuuuu threadid file:line]')
    # prints the server's warning; k8s.unknown-field anchors on that header, which strip_prefixes removes
    scanner = Scanner(KB)
    text = 'W0719 10:36:54.976442   16872 warnings.go:70] unknown field "spec.template.spec.limits"\n'
    scanner.scan_stream(io.BytesIO(text.encode()), "t.log")
    assert "k8s.unknown-field" in scanner.result.signatures


LONG = "RuntimeError: oneCCL: ze_fd_manager.cpp:144 init_device_fds: EXCEPTION: opendir failed:"


@pytest.mark.parametrize(
    ("text", "joined"),
    [
        (LONG + "\ncould not open device directory\n", True),  # a continuation
        ("EXCEPTION: opendir failed:\ncould not open device directory\n", False),  # too short to be wrapped
        (LONG + "\n2026-12-01T10:00:00Z could not open device directory\n", False),  # a record of its own
        (LONG + "\n    could not open device directory\n", False),  # indented: a traceback body
        (LONG + "\nERROR 12-01 10:00:00 [a.py:1] could not open\n", False),  # a logger's record
        (LONG + "\n(VllmWorker rank=1 pid=12) could not open\n", False),  # a worker's record
    ],
)
def test_wrapped_pieces_are_joined_only_when_they_look_wrapped(text: str, joined: bool) -> None:
    scanner = Scanner(KB)
    block = text.encode()
    start = 0
    stop = block.find(b"\n")
    pieces = scanner._wrapped(block, len(block), start, stop)
    assert bool(pieces) is joined
    if joined:
        assert pieces[0][1].endswith("opendir failed: could not open device directory")


def test_a_soft_wrapped_line_is_shown_whole_as_evidence() -> None:
    scanner = Scanner(KB)
    text = "noise\n" + LONG + "\ncould not open device directory\nnoise\n"
    scanner.scan_stream(io.BytesIO(text.encode()), "t.log")
    rec = scanner.result.signatures["oneccl.opendir-failed"]
    assert rec.first_line == 2
    assert rec.evidence[0].text.endswith("could not open device directory")


def test_identity_perturbation_is_the_example() -> None:
    # the harness itself: the identity leaves the text alone and a perturbation that does not apply says so
    assert perturb(BY_NAME["identity"], "abc") == "abc"
    assert perturb(BY_NAME["soft-wrap-80"], "short line") is None
    assert perturb(BY_NAME["case-drift"], "RuntimeError: x") is None
    assert not recognised(KB, "oneccl.opendir-failed", "nothing here")
