"""Network interfaces and their addresses: what NCCL, Gloo, oneCCL and libfabric can bind to.

Live, `ip -o addr` when iproute2 is installed; otherwise (and always under --root) files only:
interface names and `operstate` from /sys/class/net/*, IPv6 addresses with their interface from
/proc/net/if_inet6, IPv4 local addresses from /proc/net/fib_trie ("/32 host LOCAL" leaves), each
given the interface of the most specific direct route in /proc/net/route that holds it.
"""

from __future__ import annotations

import ipaddress
import os
import shutil

from tpdoctor.facts.collect import COLLECTORS, CollectContext
from tpdoctor.facts.fsutil import read_text
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
    out: list[str] = []
    leaf: str | None = None
    for line in text.splitlines():
        s = line.strip()
        if s.startswith("|-- "):
            leaf = s[4:].strip()
        elif leaf and s.startswith("/32 host LOCAL") and leaf not in out:
            out.append(leaf)
    return out


def _hex_ipv4(value: str) -> int:
    """/proc/net/route writes addresses as little-endian hex: 010200C0 is 192.0.2.1."""
    return int.from_bytes(int(value, 16).to_bytes(4, "little"), "big")


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
            if gateway == 0 and mask != 0:
                out.append((iface, dest, mask))
    return out


def interface_of(addr: str, routes: list[tuple[str, int, int]]) -> str | None:
    ip = int(ipaddress.IPv4Address(addr))
    if ip >> 24 == 127:
        return "lo"
    best = max((r for r in routes if ip & r[2] == r[1]), key=lambda r: r[2], default=None)
    return best[0] if best else None


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
    routes = parse_route(read_text(ctx.root, "/proc/net/route", facts.errors) or "")
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
        state = read_text(ctx.root, f"/sys/class/net/{iface.name}/operstate")
        iface.operstate = state.strip() if state else None
    facts.network = net


COLLECTORS.append(collect_network)
