"""Name the broken node, its interface and the cause from what `cluster verify` measured.

Pure functions (a `ClusterVerifyRun` in, Findings out), so they are tested on built runs too.
Evidence, strongest first:
  * the interface each node's ranks will bind (NCCL_SOCKET_IFNAME / GLOO_SOCKET_IFNAME, or the
    backend's default choice, `netprobe.py`) against the address Ray advertises for the node;
  * the link probes, both directions between each node and the head: a TCP connect to an
    ephemeral port that times out while Ray's own port answers is a firewall DROP; a small
    datagram that crosses while a full-MTU one with DF set is lost is an MTU black hole; a
    stream far slower than the other links (or than the interface's speed) is a slow link;
  * the pair groups (each node with the head) and the bisection, which say whose link fails.
A condition seen on every node's link to the head (with two or more such links) is the head's.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from tpdoctor.cluster.groups import GroupRun
from tpdoctor.cluster.verify_run import ClusterVerifyRun, VNode
from tpdoctor.model import Evidence, Finding, make_finding
from tpdoctor.verify.sizes import human

# A link whose TCP stream moves less than this share of the fastest link's rate is slow (a
# healthy cluster's links differ by tens of percent, a shaped or failing one by orders; on a
# loaded 2-core machine one healthy veth stream came out 4x slower than another, hence 0.1
# and the re-measurement of a suspect link in verify_run).
SLOW_RATIO = 0.1
# Against a physical interface's speed (sysfs): one TCP stream reaches well above this share
# of the line rate on a healthy 10-100 GbE link.
SLOW_OF_SPEED = 0.10
# Against a rate the user states (--expect-link-gbps, for virtual links that report no speed).
SLOW_OF_EXPECTED = 0.5
Ev = Evidence | tuple[str, str] | str


def links_suspect(run: ClusterVerifyRun) -> bool:
    """Do the probes alone already point at a link (then pairs are tested even if the group passed)?"""
    return any(_link_conditions(run).values()) or bool(slow_links(run)[0])


# "NCCL INFO NET/Socket : Using [0]eth0:198.51.100.10<0> [1]ib0:…" (NCCL src/transport/net_socket.cc);
# "NCCL INFO Bootstrap : Using eth0:198.51.100.10<0>" (src/bootstrap.cc)
_NCCL_USING = re.compile(r"NCCL INFO NET/Socket : Using (.*)")
# a name starts the line, a word or follows its `[n]`: from every character of a 64 KiB word the pattern went over the
# rest of it (160 s for a line of `-` a rank printed after `Using `, gsafe47)
_NCCL_IFACE = re.compile(r"(?:\[\d+\])?(?<![^\s\]])([^\s:\[]+):[0-9a-fA-F.:]+<\d+>")


def nccl_used(run: ClusterVerifyRun) -> dict[int, list[str]]:
    """Per node, the interfaces NCCL's socket transport says it uses (from its INFO log)."""
    out: dict[int, list[str]] = {}
    for g in (run.full, *run.pairs.values()):
        if g is None:
            continue
        for rank, lines in g.logs.items():
            for ln in lines:
                m = _NCCL_USING.search(ln)
                if m and rank < len(g.nodes):
                    names = _NCCL_IFACE.findall(m.group(1))
                    out.setdefault(g.nodes[rank], [])
                    out[g.nodes[rank]] += [n for n in names if n not in out[g.nodes[rank]]]
    return out


# torch ProcessGroupGloo.cpp, createDefaultDevice: the only line Gloo prints about its choice
GLOO_LOOPBACK = "Unable to resolve hostname to a (local) address"


def backend_log_lines(run: ClusterVerifyRun, node: int, needle: str) -> list[str]:
    """Lines of `node`'s ranks (whole group and pairs) that contain `needle`."""
    out: list[str] = []
    for g in (run.full, *run.pairs.values(), *run.reversed_pairs.values()):
        if g is None:
            continue
        for rank, lines in g.logs.items():
            if rank < len(g.nodes) and g.nodes[rank] == node:
                out += [ln.strip()[:300] for ln in lines if needle in ln and ln.strip()[:300] not in out]
    return out


def _ifaces_used(
    node: VNode, backend: str, used: dict[int, list[str]] | None = None
) -> tuple[list[str], str]:
    if backend == "nccl" and used and used.get(node.index):
        return used[node.index], "NCCL's log (NET/Socket : Using …)"
    info = node.info or {}
    choice = info.get("gloo" if backend == "gloo" else "nccl", {})
    return list(choice.get("ifaces", [])), str(choice.get("why", ""))


def _iface(node: VNode, name: str | None) -> dict[str, Any] | None:
    return next((i for i in (node.info or {}).get("interfaces", []) if i["name"] == name), None)


def _subnet(node: VNode) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    i = _iface(node, (node.info or {}).get("ray_iface"))
    if not i or not i.get("ipv4"):
        return None
    return ipaddress.ip_interface(i["ipv4"]).network


def interface_findings(run: ClusterVerifyRun, failed_nodes: set[int]) -> list[Finding]:
    """A node whose ranks bind an interface its peers cannot reach (or that does not exist)."""
    out: list[Finding] = []
    head_net = _subnet(run.nodes[run.head])
    logged = nccl_used(run)
    for node in run.nodes:
        info = node.info
        if info is None:
            continue
        used, why = _ifaces_used(node, run.backend, logged)
        names = ", ".join(f"{i['name']} {i['ipv4'] or '(no IPv4)'}" for i in info.get("interfaces", []))
        ev: list[Ev] = [
            ("ray node", f"{node.ip} on {info.get('ray_iface') or 'no interface of this node'}"),
            (f"{run.backend} interface", f"{', '.join(used) or 'none'} ({why})"),
            ("interfaces", names),
        ]
        problem = None
        if not used:
            problem = f"{why} names no interface of this node"
        else:
            reachable = []
            for name in used:
                i = _iface(node, name)
                ip = ipaddress.ip_interface(i["ipv4"]) if i and i.get("ipv4") else None
                ok = ip is not None and not ip.ip.is_loopback and (head_net is None or ip.ip in head_net)
                reachable.append(ok)
            if not any(reachable):
                problem = (
                    f"its {run.backend} ranks bind {', '.join(used)} ({why}), which the other nodes cannot reach; "
                    f"Ray's address {node.ip} is on {info.get('ray_iface')}"
                )
        if problem is None:
            continue
        if run.backend == "gloo":
            ev += [("rank log", ln) for ln in backend_log_lines(run, node.index, GLOO_LOOPBACK)[:2]]
        else:
            ev += [("NCCL INFO", ln) for ln in backend_log_lines(run, node.index, "NET/Socket : Using")[:2]]
        failed = node.index in failed_nodes
        out.append(
            make_finding(
                "network.wrong-interface",
                f"{node.label}: {problem}" + ("; its pair with the head fails" if failed else ""),
                ev,
                confidence="proves" if failed else "suggests",
                context={"iface": str(info.get("ray_iface") or "eth0")},
            )
        )
    return out


def _probe(run: ClusterVerifyRun, src: int, dst: int) -> dict[str, Any]:
    return run.probes.get(f"{src}->{dst}", {})


def _link_conditions(run: ClusterVerifyRun) -> dict[int, list[tuple[str, str, list[Ev]]]]:
    """Per non-head node: [(cause, what, evidence)] seen on its link to the head."""
    out: dict[int, list[tuple[str, str, list[Ev]]]] = {}
    h = run.head
    for node in run.nodes:
        k = node.index
        if k == h or node.info is None:
            continue
        found: list[tuple[str, str, list[Ev]]] = []
        for src, dst in ((h, k), (k, h)):
            p = _probe(run, src, dst)
            if not p or "error" in p:
                continue
            where = f"node {src} -> node {dst}"
            ev: list[Ev] = [(where, _probe_text(p))]
            dst_node = run.nodes[dst]
            if p.get("connect") == "timeout":
                ray_port = p.get("connect_ray_port")
                what = (
                    f"TCP connections from node {src} to an ephemeral port of node {dst} time out (SYN dropped)"
                    + (f" while Ray's port {dst_node.ray_port} there answers" if ray_port == "ok" else "")
                )
                found.append(("network.port-blocked", what + f"|{dst}", ev))
            elif p.get("connect") == "ok" and p.get("udp_small") == "ok" and p.get("udp_mtu") == "lost":
                what = (
                    f"a {p.get('udp_mtu_bytes')}-byte datagram with DF set (the interface MTU) from node {src} "
                    f"never reaches node {dst} while 512 bytes do: a hop on the path has a smaller MTU"
                )
                found.append(("network.mtu-mismatch", what + "|", ev))
        out[k] = found
    return out


def _probe_text(p: dict[str, Any]) -> str:
    s = p.get("stream", {})
    rate = f"{s['gbps'] * 1e3:.1f} MB/s" if s.get("gbps") else s.get("status", "-")
    return (
        f"connect {p.get('connect')}, Ray port {p.get('connect_ray_port', '-')}, "
        f"UDP 512 B {p.get('udp_small')}, UDP {p.get('udp_mtu_bytes')} B DF {p.get('udp_mtu')}, stream {rate}"
    )


def link_rates(run: ClusterVerifyRun) -> dict[int, float | None]:
    """GB/s of each node's link to the head: the slower direction; None when a stream did not finish."""
    out: dict[int, float | None] = {}
    for node in run.nodes:
        k = node.index
        if k == run.head or node.info is None:
            continue
        rates = []
        for src, dst in ((run.head, k), (k, run.head)):
            s = _probe(run, src, dst).get("stream", {})
            rates.append(s.get("gbps") if s.get("status") == "ok" else None)
        out[k] = (
            None if any(r is None for r in rates) or not rates else min(r for r in rates if r is not None)
        )
    return out


def _physical_speed(run: ClusterVerifyRun, node: VNode) -> tuple[float | None, str]:
    """(GB/s, text) of the interface the node's Ray address is on, if a physical one reports it,
    or what --expect-link-gbps says."""
    if run.expect_link_gbps:
        return run.expect_link_gbps, f"--expect-link-gbps {run.expect_link_gbps:g} GB/s"
    i = _iface(node, (node.info or {}).get("ray_iface"))
    if i is None:
        return None, "interface unknown"
    if i.get("virtual"):
        said = f" (it reports {i['speed_mbps']} Mb/s, a nominal value)" if i.get("speed_mbps") else ""
        return None, f"{i['name']} is a virtual interface (veth/bridge){said}: speed not judged"
    if not i.get("speed_mbps"):
        return None, f"{i['name']} reports no speed in sysfs: speed not judged"
    return i["speed_mbps"] / 8000.0, f"{i['name']} {i['speed_mbps']} Mb/s"


def slow_links(run: ClusterVerifyRun) -> tuple[dict[int, str], list[str]]:
    """({node: why} for slow links, notes on how each link compares with its interface)."""
    rates = link_rates(run)
    notes: list[str] = []
    slow: dict[int, str] = {}
    measured = {k: r for k, r in rates.items() if r is not None}
    best = max(measured.values(), default=None)
    for k, r in rates.items():
        node = run.nodes[k]
        speed, text = _physical_speed(run, node)
        if r is None:
            s1 = _probe(run, run.head, k).get("stream", {}).get("status")
            s2 = _probe(run, k, run.head).get("stream", {}).get("status")
            notes.append(f"{node.label}: link to the head not measured (streams: {s1}, {s2}); {text}")
            continue
        rate = f"{r * 1e3:.1f} MB/s"
        if speed:
            notes.append(
                f"{node.label}: one TCP stream to/from the head {rate}, {100 * r / speed:.0f}% of {text}"
            )
            floor = SLOW_OF_EXPECTED if run.expect_link_gbps else SLOW_OF_SPEED
            if r < floor * speed:
                slow[k] = f"{rate}, {100 * r / speed:.1f}% of the interface speed ({text})"
        else:
            notes.append(f"{node.label}: one TCP stream to/from the head {rate}; {text}")
        if best and len(measured) >= 2 and r < SLOW_RATIO * best and k not in slow:
            slow[k] = f"{rate}, {r / best:.2f}x the fastest link's {best * 1e3:.1f} MB/s"
    return slow, notes


def _failed_pairs(run: ClusterVerifyRun) -> set[int]:
    return {k for pairs in (run.pairs, run.reversed_pairs) for k, p in pairs.items() if not p.ok}


def diagnose(run: ClusterVerifyRun) -> tuple[list[Finding], list[str]]:
    """Findings (each naming its node) and notes."""
    findings: list[Finding] = []
    notes: list[str] = []
    if run.stopped:  # a path black-holes: nothing was placed, the pings are all there is
        return path_findings(run), notes
    for node in run.nodes:
        if node.info is None:
            findings += _unreachable(run, node)
    if any(n.info is None for n in run.nodes):
        return findings, notes
    failed_pairs = _failed_pairs(run)
    full_failed = run.full is not None and not run.full.ok
    # a pair that fails names its node; with the whole group failing and no pair run, all do
    blamed = set(failed_pairs)
    if full_failed and not run.pairs and not run.reversed_pairs:
        blamed = {n.index for n in run.nodes}
    findings += interface_findings(run, blamed)
    conditions = _link_conditions(run)
    findings += _link_findings(run, conditions)
    slow, speed_notes = slow_links(run)
    notes += speed_notes
    for k, why in sorted(slow.items()):
        node = run.nodes[k]
        pair = run.pairs.get(k)
        ev: list[Ev] = [
            (f"node {a} -> node {b}", _probe_text(_probe(run, a, b)))
            for a, b in ((run.head, k), (k, run.head))
        ]
        if pair is not None and pair.busbw() is not None:
            ev.append(("pair all_reduce", f"head + node {k}: busbw {pair.busbw():.3f} GB/s"))
        findings.append(
            make_finding(
                "network.slow-link",
                f"{node.label}: its link to the head is slow: {why} (interface {node.info.get('ray_iface')})",  # type: ignore[union-attr]
                ev,
                context={"iface": str(node.info.get("ray_iface") or "eth0")},  # type: ignore[union-attr]
            )
        )
    findings += _transport_findings(run)
    explained = {f.message.split(":")[0] for f in findings}
    findings += _group_findings(run, failed_pairs, explained)
    return findings, notes


def _ladder(path: dict[str, Any]) -> str:
    """'84 B ok, 9000 B lost, ...': the DF pings of netprobe.path_mtu in the order sent."""
    return ", ".join(f"{size} B {got}" for size, got in path.get("probes", []))


def path_findings(run: ClusterVerifyRun) -> list[Finding]:
    """Nodes whose path from the head black-holes full-size frames (netprobe.path_mtu, run by
    the driver before any placement); on every node's path (two or more) it is the head's."""
    head = run.nodes[run.head]
    holes = [n for n in run.nodes if (n.path or {}).get("status") == "black-hole"]
    if not holes:
        return []
    others = [n for n in run.nodes if n.index != run.head]
    ev: list[Ev] = [(f"node {run.head} -> node {n.index}", _ladder(n.path or {})) for n in holes]
    first = holes[0].path or {}
    iface, mtu = first.get("iface") or "?", first.get("mtu")

    def carried(path: dict[str, Any]) -> str:
        if path.get("path_mtu"):
            return f"at most {path['path_mtu']}-byte packets"
        return f"between {path.get('largest_ok')} and {path.get('smallest_lost')} bytes"

    tail = (
        " (a hop drops bigger frames without an ICMP 'fragmentation needed', so TCP never learns to "
        "send smaller ones); Ray's own messages would stall there, so nothing was placed on the cluster"
    )
    if len(others) >= 2 and len(holes) == len(others):
        return [
            make_finding(
                "network.mtu-mismatch",
                f"{head.label}: the path from its {iface} (MTU {mtu}) to every other node carries "
                f"{carried(first)}: a {mtu}-byte ping with DF set never comes back while small ones do"
                + tail,
                ev,
                context={"iface": str(iface)},
            )
        ]
    out = []
    for n, e in zip(holes, ev, strict=True):
        path = n.path or {}
        out.append(
            make_finding(
                "network.mtu-mismatch",
                f"{n.label}: the path to it from the head's {iface} (MTU {mtu}) carries {carried(path)}: "
                f"a {mtu}-byte ping with DF set never comes back while {path.get('largest_ok')} bytes do"
                + tail,
                [
                    e,
                    (
                        "interface MTU",
                        f"node {run.head} {iface} mtu {mtu}; node {n.index}: not described (no agent placed)",
                    ),
                ],
                context={"iface": str(iface)},
            )
        )
    return out


def _unreachable(run: ClusterVerifyRun, node: VNode) -> list[Finding]:
    """A node whose agent never answered; the head's probe without an agent may say why."""
    r = node.reach or {}
    ev: list[Ev] = [("ray node", f"{node.ip} {node.node_id}")]
    if r and "error" not in r:
        ev.append(
            (
                f"node {run.head} -> node {node.index}",
                f"Ray port {node.ray_port} {r.get('connect_ray_port')}, ping 56 B {r.get('icmp_small')}, "
                f"ping {r.get('icmp_mtu_bytes')} B DF {r.get('icmp_mtu')}",
            )
        )
    out = []
    why = ""
    if r.get("icmp_small") == "ok" and r.get("icmp_mtu") == "lost":
        others = [
            n
            for n in run.nodes
            if n.index not in (run.head, node.index) and n.reach is None and n.info is not None
        ]
        why = "; full-size frames to it are lost while small ones cross: an MTU black hole"
        head_iface = (run.nodes[run.head].info or {}).get("ray_iface") or "?"
        out.append(
            make_finding(
                "network.mtu-mismatch",
                f"{node.label}: a {r.get('icmp_mtu_bytes')}-byte ping with DF set (the head's {head_iface} MTU) "
                f"never comes back while 56 bytes do: a hop on its path has a smaller MTU, and Ray's own "
                f"messages to it stall"
                + (f" (the links of {len(others)} other node(s) carry full frames)" if others else ""),
                ev,
            )
        )
    elif r.get("connect_ray_port") == "timeout":
        why = f"; even Ray's port {node.ray_port} does not answer"
    out.append(
        make_finding(
            "cluster.node-unreachable",
            f"{node.label}: {node.error or 'no answer'}{why}; the watchdog ended the run and removed its agents",
            ev,
            related=["network.mtu-mismatch"] if len(out) else [],
        )
    )
    return out


def _link_findings(
    run: ClusterVerifyRun, conditions: dict[int, list[tuple[str, str, list[Ev]]]]
) -> list[Finding]:
    """One finding per (cause, node); a cause on every link (two or more) is the head's."""
    out: list[Finding] = []
    by_cause: dict[str, dict[int, tuple[str, list[Ev]]]] = {}
    for k, items in conditions.items():
        for cause, what, ev in items:
            text, _, dst = what.partition("|")
            # a blocked port belongs to the node whose listener did not answer
            owner = int(dst) if dst else k
            by_cause.setdefault(cause, {}).setdefault(owner, (text, []))[1].extend(ev)
            if text not in by_cause[cause][owner][0]:
                by_cause[cause][owner] = (by_cause[cause][owner][0] + "; " + text, by_cause[cause][owner][1])
    for cause, owners in by_cause.items():
        non_head = [k for k in conditions if k != run.head]
        if cause == "network.mtu-mismatch" and len(non_head) >= 2 and set(non_head) <= set(owners):
            owners = {
                run.head: (
                    "every node's link to the head: " + owners[non_head[0]][0],
                    [e for o in owners.values() for e in o[1]],
                )
            }
        for owner, (text, ev) in sorted(owners.items()):
            node = run.nodes[owner]
            iface = (node.info or {}).get("ray_iface") or "?"
            mtus = ", ".join(
                f"node {n.index} {(n.info or {}).get('ray_iface')} mtu {(_iface(n, (n.info or {}).get('ray_iface')) or {}).get('mtu')}"
                for n in run.nodes
            )
            extra: list[Ev] = [("interface MTUs", mtus)] if cause == "network.mtu-mismatch" else []
            failing = owner in _failed_pairs(run)
            after = "; its pair with the head fails" if failing else ""
            if cause == "network.port-blocked" and run.full is not None and run.full.ok:
                # Gloo's higher rank connects to the lower one: a node whose ranks only connect
                # out passes; NCCL's bootstrap ring connects to every rank's listener.
                after = (
                    "; the group passed only because no rank had to connect to this node's ranks "
                    "(NCCL's bootstrap ring and other rank orders do)"
                )
            out.append(
                make_finding(
                    cause,
                    f"{node.label}: {text} (interface {iface}){after}",
                    [*ev, *extra],
                    context={"iface": str(iface)},
                )
            )
    return out


def _transport_findings(run: ClusterVerifyRun) -> list[Finding]:
    """NCCL went over TCP sockets between nodes although a node has InfiniBand/RoCE devices."""
    full = run.full
    if run.backend != "nccl" or full is None or full.transport is None:
        return []
    t = full.transport.transports
    if not t.get("NET/Socket") or t.get("NET/IB"):
        return []
    out = []
    for node in run.nodes:
        info = node.info or {}
        if info.get("ib_devices"):
            cause = "network.socket-fallback" if info.get("dev_infiniband") else "rdma.ib-device-missing"
            out.append(
                make_finding(
                    cause,
                    f"{node.label}: NCCL moved cross-node traffic over TCP sockets (NET/Socket) although the node "
                    f"has InfiniBand/RoCE devices ({', '.join(info['ib_devices'])})"
                    + ("" if info.get("dev_infiniband") else "; /dev/infiniband is not visible to the ranks"),
                    [("NCCL INFO", ln) for ln in full.transport.lines if "NET/" in ln][:4],
                )
            )
    return out


def _group_findings(run: ClusterVerifyRun, failed_pairs: set[int], explained: set[str]) -> list[Finding]:
    """The group's own failure (hang, crash, wrong values), with the node the pairs or the
    bisection point at; left out when a node-level finding above already names that node."""
    full = run.full
    if full is None or full.ok:
        return []
    culprits = sorted(failed_pairs)
    how = "its pair with the head fails"
    if not culprits and run.bisection:
        last_ok = max((len(b.nodes) for b in run.bisection if b.ok), default=2)
        order = [run.head, *[n.index for n in run.nodes if n.index != run.head]]
        if last_ok < len(order):
            culprits = [order[last_ok]]
            how = f"the group works up to {last_ok} node(s) and fails once this node joins (bisection)"
    if len(culprits) >= 2 and len(culprits) == len(run.nodes) - 1:
        culprits, how = [run.head], "every node's pair with the head fails"
    out = []
    labels = [run.nodes[k].label for k in culprits] or ["the group"]
    for label in labels:
        if label in explained:
            continue
        out.append(
            _group_finding(run, full, label, how if culprits else "no pair or bisection isolates one node")
        )
    return out


def _group_finding(run: ClusterVerifyRun, g: GroupRun, label: str, how: str) -> Finding:
    ev: list[Ev] = [("init_method", g.init_method)]
    p = g.problem
    if p is not None:
        ev += [(f"rank {r} (node {g.nodes[r]})", op) for r, op in sorted(p.last_ops.items())]
        for r in p.ranks:
            ev += [(f"rank {r} log", ln) for ln in g.logs.get(r, [])[-4:]]
        cause = "verify.rank-hung" if p.kind == "hung" else "verify.rank-failed"
        what = f"the {len(g.nodes)}-rank {run.backend} group {'hangs' if p.kind == 'hung' else 'fails'}: {p.detail}"
    else:
        wrong = [r for r in g.results if r.wrong]
        cause = "verify.wrong-results" if wrong else "verify.tp-mlp-mismatch"
        ev += [f"{r.op} {human(r.bytes)}: {r.wrong} wrong element(s)" for r in wrong]
        what = "the group returns wrong values"
    return make_finding(cause, f"{label}: {what}; {how}", ev)
