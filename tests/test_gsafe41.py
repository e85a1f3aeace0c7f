"""gsafe41: hostile-input pass. Each test names the input that broke tpdoctor and what it did before the fix."""

from __future__ import annotations

import time
from pathlib import Path

from test_safety_fuzz import _check, invoke
from tpdoctor.facts import network
from tpdoctor.facts.collect import collect_facts

ROUTE_HEAD = "Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\tMTU\tWindow\tIRTT\n"


# -- check --root: /proc/net ---------------------------------------------------------------------------------------
def _net_root(tmp_path: Path, route: str, fib: str) -> Path:
    (tmp_path / "proc/net").mkdir(parents=True)
    (tmp_path / "sys/class/net/eth0").mkdir(parents=True)
    (tmp_path / "proc/net/route").write_text(ROUTE_HEAD + route)
    (tmp_path / "proc/net/fib_trie").write_text(fib)
    return tmp_path


def test_a_route_field_longer_than_8_hex_digits_is_skipped_not_an_internal_error(tmp_path: Path) -> None:
    """`FFFFFFFFFF` (or `-1`) as a destination made int.to_bytes raise OverflowError: exit 1 (internal error)."""
    route = "".join(
        f"eth0\t{dest}\t00000000\t0001\t0\t0\t0\t{mask}\t0\t0\t0\n"
        for dest, mask in (("FFFFFFFFFF", "00FFFFFF"), ("-1", "00FFFFFF"), ("0000000A", "-0000001"), ("0000000A", "000000FF"))
    )
    root = _net_root(tmp_path, route, "Local:\n     |-- 10.0.0.2\n        /32 host LOCAL\n")
    code, out = invoke("check", "--root", str(root), "--tp", "2", "--format", "json")
    _check(code, out, "check")
    assert network.parse_route(ROUTE_HEAD + route) == [("eth0", 0x0A000000, 0xFF000000)]


def test_many_addresses_and_routes_are_matched_in_linear_time(tmp_path: Path) -> None:
    """40k local addresses and 40k routes (3.8 MB of /proc/net) took 103 s: every route was scanned for each address
    and each address was looked up in a list of those seen. A 16 MiB file would have taken hours."""
    n = 20000
    fib = "Local:\n" + "".join(f"     |-- 10.{i >> 8 & 255}.{i & 255}.1\n        /32 host LOCAL\n" for i in range(n))
    route = "".join(f"e{i}\t{(10 | (i >> 8 & 255) << 8 | (i & 255) << 16):08X}\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n" for i in range(n))
    root = _net_root(tmp_path, route, fib)
    t = time.perf_counter()
    facts = collect_facts(root, {}, live=False)
    assert time.perf_counter() - t < 8.0  # was ~26 s at this size (quadratic)
    assert facts.network is not None
    by_name = {i.name: i.addresses for i in facts.network.interfaces}
    assert by_name["e7"] == ["10.0.7.1"] and by_name["e300"] == ["10.1.44.1"]


def test_the_most_specific_route_wins_and_odd_masks_are_ignored() -> None:
    routes = network.parse_route(
        ROUTE_HEAD
        + "wide\t0000000A\t00000000\t0001\t0\t0\t0\t000000FF\t0\t0\t0\n"
        + "narrow\t0000010A\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n"
        + "twin\t0000010A\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n"
        + "odd\t0000000A\t00000000\t0001\t0\t0\t0\t00FF00FF\t0\t0\t0\n"
    )
    assert [r[0] for r in routes] == ["wide", "narrow", "twin"]
    index = network.route_index(routes)
    assert network.interface_of("10.1.2.3", index) == "narrow"  # the first of two equal routes, as before
    assert network.interface_of("10.2.2.3", index) == "wide"
    assert network.interface_of("11.0.0.1", index) is None
    assert network.interface_of("127.0.0.1", index) == "lo"
