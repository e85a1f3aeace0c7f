"""Network interfaces and their addresses: what NCCL, Gloo, oneCCL and libfabric can bind to.

Live, `ip -o addr` when iproute2 is installed; otherwise (and always under --root) files only:
interface names and `operstate` from /sys/class/net/*, IPv6 addresses with their interface from
/proc/net/if_inet6, IPv4 local addresses from /proc/net/fib_trie ("/32 host LOCAL" leaves), each
given the interface of the most specific direct route in /proc/net/route that holds it.
"""

from __future__ import annotations

import ipaddress
import os
import re
import shutil

from tpdoctor.facts.collect import COLLECTORS, CollectContext
from tpdoctor.facts.fsutil import SYSFS_ATTR_MAX, read_text
from tpdoctor.model.facts import Facts, NetInterface, NetworkFacts

IP_TIMEOUT_S = 3


def parse_ip_addr(text: str) -> list[NetInterface]:
    """`ip -o addr` lines: '4: eth0    inet 192.0.2.2/24 brd … scope global eth0\\ …'."""
    found: dict[str, NetInterface] = {}
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 4 or fields[2] not in ("inet", "inet6"):
            continue
        name = fields[1].split("@", 1)[0]
        iface = found.setdefault(name, NetInterface(name=name))
        addr = fields[3].split("/", 1)[0]
        if addr not in iface.addresses:
            iface.addresses.append(addr)
    return list(found.values())


def parse_if_inet6(text: str) -> dict[str, list[str]]:
    """/proc/net/if_inet6: '<32 hex> <ifindex> <prefix> <scope> <flags> <name>' -> name: [addr]."""
    out: dict[str, list[str]] = {}
    for line in text.splitlines():
        fields = line.split()
        if len(fields) == 6 and len(fields[0]) == 32:
            try:
                addr = str(ipaddress.IPv6Address(int(fields[0], 16)))
            except ValueError:
                continue
            out.setdefault(fields[5], []).append(addr)
    return out


def parse_fib_trie_local(text: str) -> list[str]:
    """IPv4 addresses of this namespace: the '|-- a.b.c.d' leaves followed by '/32 host LOCAL'."""
    out: dict[str, None] = {}  # ordered and O(1) per leaf: a list's `in` made a hostile 16 MiB file quadratic
    leaf: str | None = None
    for line in text.splitlines():
        s = line.strip()
        if s.startswith("|-- "):
            leaf = s[4:].strip()
        elif leaf and s.startswith("/32 host LOCAL"):
            out.setdefault(leaf)
    return list(out)


_HEX8 = re.compile(r"[0-9A-Fa-f]{8}")


def _hex_ipv4(value: str) -> int:
    """/proc/net/route writes addresses as little-endian hex: 010200C0 is 192.0.2.1. Anything but 8 hex digits is
    ValueError (a longer or negative number made int.to_bytes raise OverflowError: exit 1 under --root; gsafe41)."""
    if not _HEX8.fullmatch(value):
        raise ValueError(value)
    return int.from_bytes(bytes.fromhex(value)[::-1], "big")


def _is_prefix_mask(mask: int) -> bool:
    """A netmask of contiguous ones (255.255.0.0), the only kind the kernel writes."""
    host = mask ^ 0xFFFFFFFF
    return host & (host + 1) == 0


def parse_route(text: str) -> list[tuple[str, int, int]]:
    """Direct routes (gateway 0) of /proc/net/route: (iface, destination, mask) as integers."""
    out: list[tuple[str, int, int]] = []
    for line in text.splitlines()[1:]:
        f = line.split()
        if len(f) >= 8:
            try:
                iface, dest, gateway, mask = f[0], _hex_ipv4(f[1]), _hex_ipv4(f[2]), _hex_ipv4(f[7])
            except ValueError:
                continue
            if gateway == 0 and mask != 0 and _is_prefix_mask(mask):
                out.append((iface, dest, mask))
    return out


RouteIndex = dict[int, dict[int, str]]  # mask -> destination -> interface (the first route listed)


def route_index(routes: list[tuple[str, int, int]]) -> RouteIndex:
    """The routes by mask, longest first: a lookup costs one probe per distinct mask (at most 32), where a scan of
    every route per address was quadratic on a hostile root (40k addresses and routes: 100 s; gsafe41)."""
    index: RouteIndex = {}
    for iface, dest, mask in sorted(routes, key=lambda r: -r[2]):
        index.setdefault(mask, {}).setdefault(dest, iface)
    return index


def interface_of(addr: str, routes: list[tuple[str, int, int]] | RouteIndex) -> str | None:
    """The interface of the most specific direct route that holds addr."""
    ip = int(ipaddress.IPv4Address(addr))
    if ip >> 24 == 127:
        return "lo"
    index = routes if isinstance(routes, dict) else route_index(routes)
    for mask, dests in index.items():
        iface = dests.get(ip & mask)
        if iface is not None:
            return iface
    return None


def _from_files(ctx: CollectContext, facts: Facts) -> NetworkFacts | None:
    try:
        names = sorted(os.listdir(ctx.path("/sys/class/net")))
    except OSError:
        names = []
    fib = read_text(ctx.root, "/proc/net/fib_trie", facts.errors)
    inet6 = read_text(ctx.root, "/proc/net/if_inet6", facts.errors)
    if not names and fib is None and inet6 is None:
        return None
    net = NetworkFacts(source="/sys/class/net + /proc/net")
    ifaces = {n: NetInterface(name=n) for n in names}
    routes = route_index(parse_route(read_text(ctx.root, "/proc/net/route", facts.errors) or ""))
    for addr in parse_fib_trie_local(fib or ""):
        name = interface_of(addr, routes)
        if name is None:
            net.unassigned.append(addr)
        else:
            ifaces.setdefault(name, NetInterface(name=name)).addresses.append(addr)
    for name, addrs in parse_if_inet6(inet6 or "").items():
        ifaces.setdefault(name, NetInterface(name=name)).addresses.extend(addrs)
    net.interfaces = sorted(ifaces.values(), key=lambda i: i.name)
    return net


def _from_ip(ctx: CollectContext) -> NetworkFacts | None:
    ip = shutil.which("ip")
    if ip is None:
        return None
    import subprocess  # here: a --root check never runs a program, and the import costs ~5 ms

    try:
        done = subprocess.run(
            [ip, "-o", "addr"], capture_output=True, text=True, timeout=IP_TIMEOUT_S, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if done.returncode != 0:
        return None
    net = NetworkFacts(source="ip -o addr", interfaces=parse_ip_addr(done.stdout))
    try:  # interfaces without an address (down, or not configured) still exist
        names = os.listdir(ctx.path("/sys/class/net"))
    except OSError:
        names = []
    known = set(net.names())
    net.interfaces += [NetInterface(name=n) for n in names if n not in known]
    net.interfaces.sort(key=lambda i: i.name)
    return net


def collect_network(ctx: CollectContext, facts: Facts) -> None:
    net = (_from_ip(ctx) if ctx.live else None) or _from_files(ctx, facts)
    if net is None:
        return
    for iface in net.interfaces:
        state = read_text(ctx.root, f"/sys/class/net/{iface.name}/operstate", head=SYSFS_ATTR_MAX)
        iface.operstate = state.strip() if state else None
    facts.network = net


COLLECTORS.append(collect_network)
