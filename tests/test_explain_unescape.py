"""Logs stored as JSON strings or pasted from HTML still match patterns that spell quotes."""

from __future__ import annotations

from pathlib import Path

from tpdoctor.explain import explain
from tpdoctor.explain.normalize import unescape

# Docker's json-file log driver stores each line as {"log": "...", "stream": ..., "time": ...}; the
# message is moby daemon/devices.go's 'could not select device driver %q with capabilities: %v'.
JSON_LINE = (
    '{"log":"docker: Error response from daemon: could not select device driver \\"\\" with capabilities: '
    '[[gpu]].\\n","stream":"stderr","time":"2025-01-01T00:00:00Z"}'
)


PLAIN_LINE = (
    'docker: Error response from daemon: could not select device driver "" with capabilities: [[gpu]].'
)


def test_json_string_is_unescaped() -> None:
    assert 'driver "" with' in unescape(JSON_LINE)


def test_a_json_file_record_is_reduced_to_its_message() -> None:
    # the `log` field, without its \n and without the stream/time fields after it
    assert unescape(JSON_LINE) == PLAIN_LINE


def test_go_unicode_escapes_are_undone() -> None:
    # moby jsonlogbytes.go writes < > & as \u003c \u003e \u0026
    assert unescape('{"log":"condition fds[dev_idx] \\u003e 0 failed\\n","stream":"stderr"}') == (
        "condition fds[dev_idx] > 0 failed"
    )


def test_colour_codes_in_a_json_string_are_dropped() -> None:
    # a json-file record and a bare JSON string (k8s/Loki export) decode \u001b the same way: no "[31m" left
    record = '{"log":"\\u001b[31mcuda is not available.\\u001b[0m\\n","stream":"stderr"}'
    assert unescape(record) == "cuda is not available."
    assert unescape('"msg":"\\u001b[31mNCCL WARN Call to connect failed\\u001b[0m"') == (
        '"msg":"NCCL WARN Call to connect failed"'
    )


def test_html_entities_are_unescaped() -> None:
    assert unescape("unable to write to file &lt;/torch_1_2&gt;") == "unable to write to file </torch_1_2>"


def test_backslashes_outside_json_are_kept() -> None:
    assert unescape(r"C:\temp\new") == r"C:\temp\new"


def test_a_json_log_line_gives_the_same_cause_as_the_plain_one(tmp_path: Path) -> None:
    plain = tmp_path / "plain.log"
    plain.write_text(PLAIN_LINE + "\n", encoding="utf-8")
    stored = tmp_path / "container-json.log"
    stored.write_text(JSON_LINE + "\n", encoding="utf-8")
    want = [f.cause for f in explain([str(plain)]).findings]
    assert want  # the plain line is a known cause
    assert [f.cause for f in explain([str(stored)]).findings] == want


def test_a_host_linked_to_itself_is_plain_again() -> None:
    # a renderer's autolinks (stored issue copies: statcan-aaw-1297, trl-3706 in tests/data/explain-real)
    assert unescape("  [nvidia.com/gpu](http://nvidia.com/gpu):     0") == "  nvidia.com/gpu:     0"
    assert unescape("INFO:     [127.0.0.1:39726](http://127.0.0.1:39726/) - \"GET /health/\"") == (
        'INFO:     127.0.0.1:39726 - "GET /health/"'
    )
    # a link whose text says something else is a link the writer made: kept
    assert unescape("see [the fix](https://github.com/x/y/pull/1)") == "see [the fix](https://github.com/x/y/pull/1)"


def test_an_autolinked_scheduler_event_names_the_same_cause(tmp_path: Path) -> None:
    plain = tmp_path / "plain.log"
    plain.write_text("Warning FailedScheduling 0/3 nodes are available: 3 Insufficient nvidia.com/gpu.\n")
    linked = tmp_path / "linked.log"
    linked.write_text(
        "Warning FailedScheduling 0/3 nodes are available: 3 Insufficient [nvidia.com/gpu](http://nvidia.com/gpu).\n"
    )
    want = [f.cause for f in explain([str(plain)]).findings]
    assert want == ["k8s.gpu-resource-unavailable"]
    assert [f.cause for f in explain([str(linked)]).findings] == want


def test_a_typographer_s_quotes_and_dashes_are_plain_again() -> None:
    # forum pastes outside a code block (markdown-it typographer) and IME/smart-dash input (dev: `don’t
    # match`, `—tensor-parallel-size`, `File “...”`)
    assert unescape("File “/usr/lib/python3/site.py”, line 57") == 'File "/usr/lib/python3/site.py", line 57'
    assert unescape("it doesn’t start with —tensor-parallel-size 2…") == (
        "it doesn't start with --tensor-parallel-size 2..."
    )
    assert unescape("-r–r–r--  1 root root 4096 Jan 26 23:31 version") == (
        "-r--r--r--  1 root root 4096 Jan 26 23:31 version"
    )
    # a dash between spaced words is prose, and a line without any of these is returned as it was
    assert unescape("GPU 0 — NOT 'render'") == "GPU 0 — NOT 'render'"
    assert unescape("plain ascii -- line") == "plain ascii -- line"


def test_a_typographed_paste_names_the_same_cause(tmp_path: Path) -> None:
    lines = [
        "docker: Error response from daemon: could not select device driver \"\" with capabilities: [[gpu]].",
        "PermissionError: [Errno 13] Permission denied: '/dev/shm/torch_1234_5678'",
        "invalid argument \"device=0,foo=1\" for \"--gpus\" flag: unexpected key 'foo' in 'foo=1'",
    ]
    curled = [
        "docker: Error response from daemon: could not select device driver “” with capabilities: [[gpu]].",
        "PermissionError: [Errno 13] Permission denied: ‘/dev/shm/torch_1234_5678’",
        "invalid argument “device=0,foo=1” for “–gpus” flag: unexpected key ‘foo’ in ‘foo=1’",
    ]
    for i, (line, typographed) in enumerate(zip(lines, curled, strict=True)):
        plain = tmp_path / f"plain{i}.log"
        plain.write_text(line + "\n", encoding="utf-8")
        forum = tmp_path / f"forum{i}.log"
        forum.write_text(typographed + "\n", encoding="utf-8")
        want = [f.cause for f in explain([str(plain)]).findings]
        assert want, line  # the plain line is a known cause
        assert [f.cause for f in explain([str(forum)]).findings] == want, typographed
