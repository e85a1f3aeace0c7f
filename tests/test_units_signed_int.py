"""units.parse_small_signed_int: the one reader of a signed integer setting (compose pids_limit and
deploy.resources.limits.pids, `docker run`/`podman run --pids-limit`), which both parsed `-?\\d+` with int():
'٣٣' (Arabic-Indic digits, \\d to Python's re and accepted by int()) was read as 33 and 5000 digits were an
error naming the file's structure instead of an unread value."""

from __future__ import annotations

from pathlib import Path

import pytest

from tpdoctor.deploy.audit import load
from tpdoctor.units import parse_go_int, parse_small_int, parse_small_signed_int


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("-1", -1),
        ("0", 0),
        ("4096", 4096),
        (" 50\n", 50),
        (-1, -1),
        (2048, 2048),
        ("9" * 18, int("9" * 18)),
        ("-" + "9" * 18, -int("9" * 18)),
        ("9" * 19, None),
        ("9" * 5000, None),
        ("-" + "9" * 5000, None),
        (10**19, None),
        (-(10**50), None),
        ("٣٣", None),
        ("²", None),
        ("+5", None),
        ("- 5", None),
        ("--5", None),
        ("-", None),
        ("", None),
        ("1e3", None),
        ("1.5", None),
        (1.5, None),
        (True, None),
        (None, None),
    ],
)
def test_signed_reader(value: object, expected: int | None) -> None:
    assert parse_small_signed_int(value) == expected


def test_unsigned_reader_agrees_on_non_negative_values() -> None:
    for s in ("0", "50", "9" * 18, "9" * 19, "٣", "²", "-1", "+1", ""):
        got = parse_small_signed_int(s)
        assert parse_small_int(s) == (got if got is None or got >= 0 else None), s


@pytest.mark.parametrize(
    ("fmt", "value", "expected"),
    [
        ("compose", "-1", -1),
        ("compose", "512", 512),
        ("compose", '"٣٣"', None),
        ("compose", '"' + "9" * 5000 + '"', None),
        ("compose-deploy", "'64'", 64),
        ("compose-deploy", '"' + "9" * 5000 + '"', None),
        ("docker", "-1", -1),
        ("docker", "64", 64),
        ("docker", "٣٣", None),
        ("docker", "9" * 5000, None),
        ("docker", "+64", 64),  # pflag's Int64 is strconv.ParseInt(s, 0, 64)
        ("docker", "0x40", 64),
        ("podman", "0", 0),
    ],
)
def test_both_frontends_read_pids_limit_with_it(tmp_path: Path, fmt: str, value: str, expected: int | None) -> None:
    if fmt == "compose":
        p = tmp_path / "compose.yaml"
        p.write_text(f"services:\n  llm:\n    image: vllm/vllm-openai\n    pids_limit: {value}\n")
    elif fmt == "compose-deploy":
        p = tmp_path / "compose.yaml"
        p.write_text(
            f"services:\n  llm:\n    image: vllm/vllm-openai\n    deploy:\n      resources:\n        limits:\n"
            f"          pids: {value}\n"
        )
    else:
        p = tmp_path / "run.sh"
        p.write_text(f"{fmt} run --pids-limit {value} vllm/vllm-openai --tensor-parallel-size 2\n")
    (svc,) = load(p, None).model.services
    assert svc.pids_limit == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # strconv.ParseInt(s, 0, 64), as pflag's Int64 flags (docker/podman --pids-limit) read their value
        ("64", 64), ("+64", 64), ("-1", -1), ("0", 0), ("-0", 0),
        ("0x40", 64), ("0X40", 64), ("0o100", 64), ("0100", 64), ("0b1000000", 64),
        ("1_000", 1000), ("0x_40", 64), ("0_100", 64), ("0xffff_ffff", 2**32 - 1),
        (str(2**63 - 1), 2**63 - 1), (str(-(2**63)), -(2**63)), (str(2**63), None),
        ("_64", None), ("64_", None), ("1__0", None), ("0x", None), ("0b_", None), ("08", None), ("0x4g", None),
        ("", None), ("+", None), ("-", None), ("+-1", None), (" 64", None), ("64 ", None), ("64k", None),
        ("٣٣", None), ("²", None), ("9" * 5000, None),
    ],
)
def test_go_int_reader(text: str, expected: int | None) -> None:
    assert parse_go_int(text) == expected
