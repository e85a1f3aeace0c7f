"""What a rank's network looks like from inside its node, and byte-level probes between nodes.

Standard library only: it runs inside the Ray actor on every node (`ranks.py`). Interfaces come
from the kernel of this network namespace (`socket.if_nameindex` + SIOCGIFADDR/SIOCGIFNETMASK/
SIOCGIFMTU ioctls), speed from sysfs only when sysfs belongs to this namespace (the ifindex
matches). The probes answer three questions a collective cannot: can a TCP connection reach an
ephemeral port of the peer (a firewall DROPs it: timeout; nothing listens: refused), does a
datagram of the full interface MTU cross the path with DF set (a smaller hop drops it), and how
fast does one TCP stream move bytes.
"""

from __future__ import annotations

import errno
import fcntl
import ipaddress
import itertools
import os
import socket
import struct
import threading
import time
from collections.abc import Callable
from typing import Any

SIOCGIFADDR, SIOCGIFNETMASK, SIOCGIFMTU = 0x8915, 0x891B, 0x8921
# IP_MTU_DISCOVER / IP_PMTUDISC_DO (linux/in.h): set DF, never fragment locally
IP_MTU_DISCOVER, IP_PMTUDISC_DO = 10, 2
UDP_OVERHEAD = 28  # IPv4 header 20 + UDP header 8


def _ioctl(sock: socket.socket, request: int, name: str) -> bytes | None:
    try:
        return fcntl.ioctl(sock.fileno(), request, struct.pack("256s", name.encode()[:15]))
    except OSError:
        return None


def _sysfs(name: str, leaf: str) -> str | None:
    try:
        with open(f"/sys/class/net/{name}/{leaf}", encoding="ascii") as f:
            return f.read().strip()
    except OSError:
        return None


def interfaces() -> list[dict[str, Any]]:
    """[{name, index, ipv4: "a.b.c.d/len" | None, mtu, speed_mbps, virtual, up}] of this namespace.

    `speed_mbps` is sysfs `speed` (Mb/s) or None when the driver reports none (-1, unreadable);
    `virtual` is True for interfaces without a device behind them (veth, bridge, lo): their
    speed, when reported (veth says 10000), is nominal, not a link's."""
    out: list[dict[str, Any]] = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for index, name in socket.if_nameindex():
            addr = _ioctl(s, SIOCGIFADDR, name)
            mask = _ioctl(s, SIOCGIFNETMASK, name)
            mtu = _ioctl(s, SIOCGIFMTU, name)
            ipv4 = None
            if addr and mask:
                ip = socket.inet_ntoa(addr[20:24])
                prefix = bin(int.from_bytes(mask[20:24], "big")).count("1")
                ipv4 = f"{ip}/{prefix}"
            # sysfs may belong to another namespace (a process that joined a netns without
            # remounting /sys): trust it only when the ifindex matches.
            own_sysfs = _sysfs(name, "ifindex") == str(index)
            speed = _sysfs(name, "speed") if own_sysfs else None
            try:
                speed_mbps = int(speed) if speed is not None and int(speed) > 0 else None
            except ValueError:
                speed_mbps = None
            virtual = os.path.exists(f"/sys/devices/virtual/net/{name}") if own_sysfs else name == "lo"
            out.append(
                {
                    "name": name,
                    "index": index,
                    "ipv4": ipv4,
                    "mtu": struct.unpack("i", mtu[16:20])[0] if mtu else None,
                    "speed_mbps": speed_mbps,
                    "virtual": virtual,
                    "operstate": _sysfs(name, "operstate") if own_sysfs else None,
                }
            )
    return out


def iface_of(ip: str, ifaces: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The interface holding `ip`."""
    return next((i for i in ifaces if i["ipv4"] and i["ipv4"].split("/")[0] == ip), None)


def nccl_ifname_match(spec: str, name: str) -> bool:
    """NCCL_SOCKET_IFNAME semantics (NCCL src/misc/socket.cc, matchIfList / parseStringList):
    a comma list of prefixes; '^' in front excludes the listed prefixes; '=' in front makes them
    exact names."""
    exclude = spec.startswith("^")
    body = spec[1:] if exclude else spec
    exact = body.startswith("=")
    body = body[1:] if exact else body
    items = [p.strip() for p in body.split(",") if p.strip()]
    hit = any(name == p if exact else name.startswith(p) for p in items)
    return not hit if exclude else hit


def nccl_choice(env: dict[str, str], ifaces: list[dict[str, Any]]) -> tuple[list[str], str]:
    """Interfaces NCCL's socket transport would use, and why (NCCL src/misc/socket.cc,
    ncclFindInterfaces: NCCL_SOCKET_IFNAME if set; else "ib" prefixed ones, then anything but
    docker* and lo, then docker*, then lo). IPv4 only, as NCCL's default NCCL_SOCKET_FAMILY picks."""
    named = [i for i in ifaces if i["ipv4"]]
    spec = env.get("NCCL_SOCKET_IFNAME")
    if spec:
        return [i["name"] for i in named if nccl_ifname_match(spec, i["name"])], f"NCCL_SOCKET_IFNAME={spec}"
    for pattern in ("ib", "^docker,lo", "docker", "lo"):
        got = [i["name"] for i in named if nccl_ifname_match(pattern, i["name"])]
        if got:
            return got, f"NCCL's default order (ib, then not docker/lo): matched {pattern!r}"
    return [], "no interface with an IPv4 address"


def gloo_choice(env: dict[str, str], ifaces: list[dict[str, Any]]) -> tuple[list[str], str]:
    """Interfaces Gloo would bind (torch/csrc/distributed/c10d/ProcessGroupGloo.cpp,
    createDefaultDevice / createDeviceForInterface): GLOO_SOCKET_IFNAME (a comma list in torch
    >= 2.1) if set; else the address the hostname resolves to, if it can be bound here; else
    loopback, with the warning "Unable to resolve hostname to a (local) address"."""
    spec = env.get("GLOO_SOCKET_IFNAME")
    if spec:
        names = [n.strip() for n in spec.split(",") if n.strip()]
        return [n for n in names if any(i["name"] == n for i in ifaces)], f"GLOO_SOCKET_IFNAME={spec}"
    host = socket.gethostname()
    try:
        infos = socket.getaddrinfo(host, None, socket.AF_INET, socket.SOCK_STREAM)
    except OSError:
        infos = []
    for info in infos:
        ip = str(info[4][0])
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                s.bind((ip, 0))
        except OSError:
            continue
        iface = iface_of(ip, ifaces)
        if iface is None and ipaddress.ip_address(ip).is_loopback:
            iface = next((i for i in ifaces if i["name"] == "lo"), None)
        return ([iface["name"]] if iface else []), f"hostname {host!r} resolves to {ip}"
    return ["lo"], f"hostname {host!r} resolves to no local address: loopback fallback"


class Listener:
    """A TCP server and a UDP echo on ephemeral ports of one address, in daemon threads.

    TCP: the peer sends an 8-byte length then that many bytes; the listener answers 8 bytes
    with the count it received. UDP: every datagram is answered with its length (4 bytes)."""

    def __init__(self, ip: str) -> None:
        self.tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.tcp.bind((ip, 0))
        self.tcp.listen(16)
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind((ip, 0))
        self.ports = (self.tcp.getsockname()[1], self.udp.getsockname()[1])
        threading.Thread(target=self._accept, daemon=True).start()
        threading.Thread(target=self._echo, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.tcp.accept()
            except OSError:
                return
            threading.Thread(target=self._drain, args=(conn,), daemon=True).start()

    @staticmethod
    def _drain(conn: socket.socket) -> None:
        with conn:
            conn.settimeout(120)
            try:
                head = _recv_exact(conn, 8)
                want = struct.unpack("!Q", head)[0]
                got = 0
                while got < want:
                    chunk = conn.recv(min(1 << 20, want - got))
                    if not chunk:
                        break
                    got += len(chunk)
                conn.sendall(struct.pack("!Q", got))
            except OSError:
                return

    def _echo(self) -> None:
        while True:
            try:
                data, peer = self.udp.recvfrom(65535)
                if peer is None:  # shut down
                    return
                self.udp.sendto(struct.pack("!I", len(data)), peer)
            except OSError:
                return

    def close(self) -> None:
        # shutdown first: close() alone does not wake a thread blocked in accept()/recvfrom()
        for s in (self.tcp, self.udp):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()


def _recv_exact(conn: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = conn.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("peer closed")
        buf += chunk
    return buf


def tcp_connect(ip: str, port: int, timeout: float) -> str:
    """ok | refused | timeout (SYN dropped: a firewall DROP) | unreachable | error: <text>."""
    try:
        with socket.create_connection((ip, port), timeout=timeout):
            return "ok"
    except ConnectionRefusedError:
        return "refused"
    except TimeoutError:
        return "timeout"
    except OSError as exc:
        if exc.errno in (101, 113):  # ENETUNREACH, EHOSTUNREACH
            return "unreachable"
        return f"error: {exc.strerror or exc}"


def _df_roundtrip(
    sock: socket.socket,
    send: Callable[[int], None],
    answered: Callable[[bytes, Any, int], bool],
    bufsize: int,
    timeout: float,
    tries: int,
) -> str:
    """The loop UDP and ICMP probes share: set DF on `sock`, then up to `tries` times send
    (`send(attempt)`, attempt from 1) and read until the attempt's share of `timeout` ends or
    `answered(data, addr, attempt)` says the echo came back.

    ok | lost (nothing came back) | too-big-local (our own interface, or a path MTU the kernel
    already learned from an ICMP "fragmentation needed", refuses it: EMSGSIZE) | error: <text>."""
    sock.setsockopt(socket.IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DO)
    per_try = timeout / tries
    sock.settimeout(per_try)
    for attempt in range(1, tries + 1):
        try:
            send(attempt)
            deadline = time.monotonic() + per_try
            while time.monotonic() < deadline:
                data, addr = sock.recvfrom(bufsize)
                if answered(data, addr, attempt):
                    return "ok"
        except TimeoutError:
            continue
        except OSError as exc:
            if exc.errno == errno.EMSGSIZE:
                return "too-big-local"
            return f"error: {exc.strerror or exc}"
    return "lost"


def udp_df(ip: str, port: int, payload: int, timeout: float, tries: int = 3) -> str:
    """Send one datagram of `payload` bytes with DF set to the peer's echo (`Listener`); ok
    when the echo (its length, 4 bytes) comes back. Results as `_df_roundtrip`."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:

        def send(_attempt: int) -> None:
            s.sendto(b"\0" * payload, (ip, port))

        def answered(data: bytes, _addr: Any, _attempt: int) -> bool:
            return len(data) == 4 and struct.unpack("!I", data)[0] == payload

        return _df_roundtrip(s, send, answered, 16, timeout, tries)


def tcp_stream(ip: str, port: int, nbytes: int, timeout: float) -> dict[str, Any]:
    """Send `nbytes` over one TCP connection: {"status": ok|timeout|..., "gbps": GB/s, "seconds"}."""
    t0 = time.monotonic()
    try:
        with socket.create_connection((ip, port), timeout=min(timeout, 5.0)) as s:
            s.settimeout(timeout)
            s.sendall(struct.pack("!Q", nbytes))
            block = b"\0" * (1 << 20)
            left = nbytes
            while left > 0:
                n = min(left, len(block))
                s.sendall(block[:n])
                left -= n
            got = struct.unpack("!Q", _recv_exact(s, 8))[0]
    except TimeoutError:
        return {"status": "timeout", "seconds": time.monotonic() - t0}
    except ConnectionRefusedError:
        return {"status": "refused", "seconds": time.monotonic() - t0}
    except OSError as exc:
        return {"status": f"error: {exc.strerror or exc}", "seconds": time.monotonic() - t0}
    secs = time.monotonic() - t0
    return {"status": "ok" if got == nbytes else "short", "seconds": secs, "gbps": got / secs / 1e9}


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = int(sum(struct.unpack(f"!{len(data) // 2}H", data)))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return ~total & 0xFFFF


_ICMP_IDS = itertools.count(1)


def icmp_echo(ip: str, payload: int, timeout: float, tries: int = 3) -> str:
    """ICMP echo of `payload` data bytes with DF set: ok | lost | too-big-local | unavailable.

    Works without a peer agent (the kernel answers), so it tells an MTU black hole from a hang
    for a node whose agent never came up, and probes a path before any Ray traffic crosses it.
    Uses the unprivileged ping socket when net.ipv4.ping_group_range allows it, else a raw
    socket (root / CAP_NET_RAW)."""
    opened = None
    raw = False
    for kind in (socket.SOCK_DGRAM, socket.SOCK_RAW):
        try:
            opened = socket.socket(socket.AF_INET, kind, socket.IPPROTO_ICMP)
            raw = kind == socket.SOCK_RAW
            break
        except OSError:
            continue
    if opened is None:
        return "unavailable"
    sock = opened
    # A ping socket gets only its own replies (the kernel sets the id); a raw socket sees every
    # ICMP packet of the namespace: keep replies to this call's id only.
    ident = (os.getpid() + next(_ICMP_IDS)) & 0xFFFF
    body = b"\x5a" * payload

    def send(seq: int) -> None:
        header = struct.pack("!BBHHH", 8, 0, 0, ident, seq)
        sock.sendto(struct.pack("!BBHHH", 8, 0, _checksum(header + body), ident, seq) + body, (ip, 0))

    def answered(data: bytes, addr: Any, _seq: int) -> bool:
        if raw:
            data = data[(data[0] & 0x0F) * 4 :]  # strip the IP header
            if data[4:6] != struct.pack("!H", ident):
                return False
        return bool(addr[0] == ip and data[:1] == b"\x00" and len(data) >= 8 + payload)

    with sock:
        return _df_roundtrip(sock, send, answered, payload + 128, timeout, tries)


def reach(ip: str, port: int | None, mtu: int, timeout: float) -> dict[str, Any]:
    """What can be learned about a node without its agent: Ray's port, small and full-MTU pings."""
    return {
        "connect_ray_port": tcp_connect(ip, port, min(timeout, 5.0)) if port else "skipped",
        "icmp_small": icmp_echo(ip, 56, min(timeout, 3.0)),
        "icmp_mtu_bytes": mtu - UDP_OVERHEAD,
        "icmp_mtu": icmp_echo(ip, mtu - UDP_OVERHEAD, min(timeout, 3.0)),
    }


IP_ICMP_OVERHEAD = 28  # IPv4 header 20 + ICMP echo header 8
# Path MTUs worth trying first, so the usual hole (a 1500-byte hop under 9000-byte interfaces)
# is pinned in two probes instead of a dozen: IPv6's minimum link MTU, Ethernet, jumbo frames.
COMMON_MTUS = (1280, 1500, 9000)


def path_mtu(ip: str, mtu: int, timeout: float = 2.0, max_probes: int = 16) -> dict[str, Any]:
    """The path MTU to `ip`, from DF-set pings of increasing size up to `mtu` (the sender's
    interface MTU). The kernel of the peer answers, so no agent (and no Ray message) is needed.

    status: ok (a full-`mtu` packet crosses) | black-hole (56 bytes cross, `mtu` never does,
    even on a second, longer try: a hop drops bigger frames without an ICMP "fragmentation
    needed", so TCP never learns to send smaller ones) | signalled (the kernel already knows a
    smaller path MTU from such an ICMP: TCP adapts, no hole) | unknown (small pings do not cross
    either: ICMP filtered, or the node is down; `small` says how they ended, "unavailable" when
    this process may open neither a ping nor a raw socket). For a black hole, `path_mtu` is the largest
    packet that crossed (`largest_ok`, `smallest_lost` when the search ran out of probes).
    `probes`: [[IP packet bytes, result], ...] in the order sent."""
    probes: list[list[Any]] = []

    def ping(size: int, wait: float, tries: int = 2) -> str:
        got = icmp_echo(ip, size - IP_ICMP_OVERHEAD, wait, tries)
        probes.append([size, got])
        return got

    out: dict[str, Any] = {"mtu": mtu, "probes": probes}
    small = ping(56 + IP_ICMP_OVERHEAD, timeout, 3)
    if small != "ok":
        return {**out, "status": "unknown", "small": small}
    full = ping(mtu, timeout, 3)
    if full == "lost":  # once more, longer: a loaded machine must not make a hole of a late reply
        full = ping(mtu, 2 * timeout, 4)
        small = ping(56 + IP_ICMP_OVERHEAD, timeout, 3) if full == "lost" else small
        if small != "ok":
            return {**out, "status": "unknown", "small": small}
    if full == "ok":
        return {**out, "status": "ok", "path_mtu": mtu}
    if full == "too-big-local":
        return {**out, "status": "signalled"}
    if full != "lost":
        return {**out, "status": "unknown", "small": small}
    lo, hi = 56 + IP_ICMP_OVERHEAD, mtu  # lo crossed, hi did not
    wait = timeout / 2
    for common in COMMON_MTUS:
        if not lo < common < hi:
            continue
        if ping(common, wait) != "ok":
            hi = common
            break
        lo = common
        if common + 1 < hi:  # is it exactly this one?
            if ping(common + 1, wait) == "ok":
                lo = common + 1
            else:
                hi = common + 1
                break
    while hi - lo > 1 and len(probes) < max_probes:
        mid = (lo + hi) // 2
        if ping(mid, wait) == "ok":
            lo = mid
        else:
            hi = mid
    return {
        **out,
        "status": "black-hole",
        "path_mtu": lo if hi - lo == 1 else None,
        "largest_ok": lo,
        "smallest_lost": hi,
    }
