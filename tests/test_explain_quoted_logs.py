"""Logs that reach explain quoted: one JSON-escaped string (a pod's termination message, an API error body, a
Python repr) and Docker json-file records whose facts hold a quote (explain/reader.py _Unescaped,
scanner.py fact literal forms)."""

from __future__ import annotations

import io
import json
import random
from pathlib import Path

from explain_helpers import causes, notes
from tpdoctor.explain.reader import _is_escaped_log, _Unescaped

# Open MPI's orterun:root-not-allowed help text (orte/tools/orterun/help-orterun.txt) and a df listing: both are
# read across lines (a banner, a table whose row is anchored), which a log quoted as one string loses.
OMPI_ROOT = """$ mpirun -np 2 python train.py
--------------------------------------------------------------------------
mpirun has detected an attempt to run as root.

Running as root is *strongly* discouraged as any mistake (e.g., in
defining TMPDIR) or bug can result in catastrophic damage to the OS
file system, leaving your system in an unusable state.

We strongly suggest that you run mpirun as a non-root user.

You can override this protection by adding the --allow-run-as-root option
to the cmd line or by setting two environment variables in the following way:
the variable OMPI_ALLOW_RUN_AS_ROOT=1 to allow running as root, and the
variable OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 to confirm the choice and
add one more confirmation step
--------------------------------------------------------------------------
"""
DF_SHM_FULL = (
    "Filesystem      Size  Used Avail Use% Mounted on\n"
    "overlay         1.8T  1.1T  700G  61% /\n"
    "shm              64M   64M     0 100% /dev/shm\n"
    "tmpfs            32G     0   32G   0% /proc/acpi\n"
)


def _quoted(text: str) -> str:
    """`kubectl get pod -o json`'s shape: the log is one string field of a one-line document."""
    return json.dumps({"reason": "Error", "exitCode": 1, "message": text}) + "\n"


def test_a_log_quoted_as_one_string_is_read_line_by_line(tmp_path: Path) -> None:
    for text, cause in ((OMPI_ROOT, "mpi.run-as-root-refused"), (DF_SHM_FULL, "shm.too-small")):
        assert causes(tmp_path, text)[:1] == [cause]
        assert causes(tmp_path, _quoted(text))[:1] == [cause]
        assert any("quoted as one escaped string" in n for n in notes(tmp_path, _quoted(text)))


def test_a_python_repr_is_read_too(tmp_path: Path) -> None:
    # RuntimeError('...\n...') as a traceback's last line or a print() of the exception's args shows it
    assert causes(tmp_path, repr(DF_SHM_FULL) + "\n")[:1] == ["shm.too-small"]


def test_plain_and_json_file_logs_are_not_unescaped(tmp_path: Path) -> None:
    # Docker json-file: one escape per record and one real newline; unwrapped per line (normalize.unescape)
    records = "".join(
        json.dumps({"log": line + "\n", "stream": "stderr", "time": "2026-12-03T16:00:00.1Z"}, separators=(",", ":")) + "\n"
        for line in DF_SHM_FULL.splitlines()
    )
    assert not _is_escaped_log(records.encode())
    assert not _is_escaped_log(OMPI_ROOT.encode())
    assert not any("escaped string" in n for n in notes(tmp_path, records))
    assert causes(tmp_path, records)[:1] == ["shm.too-small"]
    # a plain log that prints a couple of "\n" (a Windows path, a repr) stays as it is
    assert not _is_escaped_log(b"line one\nsaved to C:\\new\\nccl\nline three\nline four\n")


class _Trickle(io.RawIOBase):
    """Hands out a few bytes per read, so every escape is cut by a chunk boundary somewhere."""

    def __init__(self, data: bytes, step: int) -> None:
        self._data, self._step, self._at = data, step, 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        out = self._data[self._at : self._at + self._step]
        self._at += len(out)
        return out


def test_escapes_cut_by_a_chunk_boundary_decode_whole() -> None:
    rng = random.Random(7)
    pieces = ["NCCL WARN", "a\\b", 'say "hi"', "\u001b[31mred\u001b[0m", "tab\there", "ü", "/dev/shm", "\r\n", "\\\\"]
    for _ in range(40):
        text = "\n".join(rng.choice(pieces) for _ in range(rng.randint(5, 60)))
        quoted = json.dumps(text)[1:-1].encode()
        expected = text.replace("\r\n", "\n").encode()
        for step in (1, 2, 3, 5, 7):
            assert _Unescaped(_Trickle(quoted, step)).read() == expected, (text, step)


def test_a_fact_with_a_quote_is_read_from_a_json_file_record(tmp_path: Path) -> None:
    # Two nvidia-container-runtime configs, the working one with the host's root = "/" (a fact) and the broken one
    # with the GPU Operator's driver-container root: in json-file records every quote is \" (moby jsonlog)
    configs = (
        "working:\n[nvidia-container-cli]\n  ldconfig = \"@/sbin/ldconfig.real\"\n  root = \"/\"\n"
        "not working:\n[nvidia-container-cli]\n  ldconfig = \"@/run/nvidia/driver/sbin/ldconfig.real\"\n"
        "  root = \"/run/nvidia/driver\"\n"
    )
    records = "".join(
        json.dumps({"log": line + "\n", "stream": "stdout", "time": "2026-12-03T16:00:00.1Z"}, separators=(",", ":")) + "\n"
        for line in configs.splitlines()
    )
    assert causes(tmp_path, configs)[:1] == ["nvidia.toolkit-driver-root-wrong"]
    assert causes(tmp_path, records)[:1] == ["nvidia.toolkit-driver-root-wrong"]
