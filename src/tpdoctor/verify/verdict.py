"""Measured against expected: a verdict per size, a verdict per size range, and the Findings."""

from __future__ import annotations

from tpdoctor.model import Evidence, Finding, make_finding
from tpdoctor.verify.envcause import forced_algo_failure
from tpdoctor.verify.expect import FLOORS, size_range
from tpdoctor.verify.latency import LATENCY_SLACK, LatencyModel
from tpdoctor.verify.results import Expectation, OpResult, VerifyResult
from tpdoctor.verify.sizes import human
from tpdoctor.verify.transport import fallbacks

_ORDER = {"failed": 0, "degraded": 1, "ok": 2, "not judged": 3}
# Environment variables that steer NCCL/oneCCL away from peer access: evidence for a fallback.
STEERING_ENV = (
    "NCCL_P2P_DISABLE",
    "NCCL_P2P_LEVEL",
    "NCCL_SHM_DISABLE",
    "NCCL_CUMEM_ENABLE",
    "NCCL_NET",
    "NCCL_IB_DISABLE",
    "CUDA_VISIBLE_DEVICES",
    "CCL_ZE_IPC_EXCHANGE",
    "CCL_TOPO_P2P_ACCESS",
)


# all_gather / reduce_scatter of S bytes put S(n-1)/n on each rank's links, half of what an
# all-reduce of S does, so they are judged in the size range of an all-reduce of S/2. At equal
# wire bytes they reached 0.85 of the all-reduce busbw on 2xH200 (docs/gpu-h200.md: all_gather
# 242/266/285 GB/s at 256 MiB/1 GiB/4 GiB against all_reduce ~285/315/337 at half those sizes);
# their floors are scaled by 0.8 to keep a margin. At 8 ranks they reach the ring ceiling
# (published 8xH200: 361-363 GB/s), so the scale only makes the verdict more lenient there.
HALF_TRAFFIC_OPS = ("all_gather", "reduce_scatter")
HALF_TRAFFIC_FLOOR_SCALE = 0.8


def _allreduce_equivalent_bytes(r: OpResult) -> int:
    return r.bytes // 2 if r.op in HALF_TRAFFIC_OPS else r.bytes


def judge(results: list[OpResult], exp: Expectation | None, world: int) -> None:
    """Fill expected_gbps, ceiling_gbps, verdict and note of every result in place."""
    ceiling = exp.ceiling_gbps if exp else None
    for r in results:
        r.expected_gbps = None
        floor, label = size_range(_allreduce_equivalent_bytes(r))
        if floor is not None and r.op in HALF_TRAFFIC_OPS:
            floor *= HALF_TRAFFIC_FLOOR_SCALE
        r.ceiling_gbps = ceiling
        if _settled(r, world, ceiling, "no expected bandwidth for this link") or ceiling is None:
            continue
        if floor is None:
            r.verdict, r.note = "not judged", "latency-bound size"
        else:
            r.expected_gbps = round(ceiling * floor, 1)
            pct = 100.0 * r.busbw_gbps / ceiling
            if r.busbw_gbps >= r.expected_gbps:
                r.verdict, r.note = "ok", f"{pct:.0f}% of ceiling"
            else:
                r.verdict = "degraded"
                r.note = (
                    f"{pct:.0f}% of the {ceiling:g} GB/s ceiling (healthy >= {r.expected_gbps:g} in {label})"
                )


def judge_latency(rows: list[OpResult], model: LatencyModel | None, world: int) -> None:
    """Small all-reduces: time of one call against LATENCY_SLACK x the modeled floor. Only
    graph-timed rows are judged: an eager loop's time includes Python and launch overhead."""
    for r in rows:
        r.expected_us = r.floor_us = None
        if _settled(r, world, model, "no latency model for this link") or model is None:
            continue
        floor, proto = model.floor_us(r.bytes)
        r.floor_us, r.expected_us = floor, model.limit_us(r.bytes)
        if not r.timing.endswith("-graph"):
            r.verdict, r.note = "not judged", f"{r.timing} timing includes host overhead"
        elif r.time_us <= r.expected_us:
            r.verdict, r.note = "ok", f"{r.time_us / floor:.2f}x the {floor:g} us floor ({proto})"
        else:
            r.verdict = "degraded"
            r.note = f"{r.time_us / floor:.1f}x the {floor:g} us floor ({proto}); healthy <= {LATENCY_SLACK:g}x"


def _settled(r: OpResult, world: int, reference: object | None, missing: str) -> bool:
    """The verdicts every judge gives before it compares numbers: wrong elements fail, one rank and a
    missing reference (`missing` says which) are not judged. True when `r` got one of them."""
    if r.wrong:
        r.verdict, r.note = "failed", f"{r.wrong} wrong element(s)"
    elif world < 2:
        r.verdict, r.note = "not judged", "one rank moves no data"
    elif reference is None:
        r.verdict, r.note = "not judged", missing
    else:
        return False
    return True


def range_verdicts(results: list[OpResult]) -> dict[str, str]:
    """Worst verdict in each size range, in range order."""
    out: dict[str, str] = {}
    for _, _, label in FLOORS:
        in_range = [r.verdict for r in results if size_range(r.bytes)[1] == label]
        if in_range:
            out[label] = min(in_range, key=lambda v: _ORDER.get(v, 9))
    return out


def findings(res: VerifyResult) -> list[Finding]:
    out: list[Finding] = []
    p = res.problem
    if p is not None:
        evidence: list[Evidence | tuple[str, str] | str] = [
            (f"rank {k}", v) for k, v in sorted(p.last_ops.items())
        ]
        for rank, tail in sorted(p.log_tail.items()):
            evidence.extend((f"rank{rank}.log", ln) for ln in tail[-6:])
        who = ", ".join(f"rank {k}" for k in p.ranks)
        if p.kind == "hung":
            ops = "; ".join(p.last_ops.get(k, "?") for k in p.ranks)
            msg = f"{who} stopped making progress ({ops}): {p.detail}; the watchdog ended all {res.world_size} ranks"
            out.append(make_finding("verify.rank-hung", msg, evidence))
        else:
            msg = f"{who} failed: {p.detail}; the watchdog ended the other ranks"
            texts = [p.detail] + [ln for tail in p.log_tail.values() for ln in tail] + res.failure_lines
            forced = forced_algo_failure(texts, res.env)
            related = ["verify.forced-algorithm-unavailable"] if forced else []
            if forced:
                msg += "; cause: a forced NCCL_ALGO/NCCL_PROTO (see verify.forced-algorithm-unavailable)"
            out.append(make_finding("verify.rank-failed", msg, evidence, related=related))
            if forced:
                what = " and ".join(
                    f"{k}={v}" for k, v in (("NCCL_ALGO", forced.algo), ("NCCL_PROTO", forced.proto)) if v
                )
                op = (p.last_ops.get(p.ranks[0], "") if p.ranks else "").strip()
                fmsg = (
                    f"{what or 'a forced algorithm/protocol'} leaves NCCL no algorithm/protocol for "
                    f"{forced.function or 'a collective'}"
                    + (f" ({forced.datatype})" if forced.datatype else "")
                    + (f": the collective fails ({op})" if op else ": the collective fails")
                )
                fev: list[Evidence | tuple[str, str] | str] = [("NCCL", forced.line)]
                fev.extend((k, f"{k}={res.env[k]}") for k in ("NCCL_ALGO", "NCCL_PROTO") if k in res.env)
                out.append(
                    make_finding(
                        "verify.forced-algorithm-unavailable", fmsg, fev, related=["verify.rank-failed"]
                    )
                )
    wrong = [r for r in res.latency + res.vllm_latency + res.results if r.wrong]
    if wrong:
        ev = [
            f"{r.op} {human(r.bytes)} {r.dtype}: {r.wrong} of {r.count} elements wrong (summed over ranks)"
            for r in wrong
        ]
        out.append(
            make_finding(
                "verify.wrong-results",
                f"{len(wrong)} collective(s) returned wrong values: the data path between GPUs corrupts data",
                ev,
            )
        )
    if res.tp_mlp is not None and not res.tp_mlp.ok:
        t = res.tp_mlp
        out.append(
            make_finding(
                "verify.tp-mlp-mismatch",
                f"the tensor-parallel MLP differs from one device by {t.max_rel_err:.3g} (tolerance {t.tolerance:g}, {t.dtype})",
                [t.shape],
            )
        )
    slow = [r for r in res.results if r.verdict == "degraded"]
    fb = fallbacks(res.transport) if res.transport else {}
    forced_names = {c.name for c in res.env_causes}
    env_ev = [
        (k, f"{k}={v}") for k, v in sorted(res.env.items()) if k in STEERING_ENV and k not in forced_names
    ]
    env_ev += [(c.name, f"{c.name}={c.value}: forces {c.forces}") for c in res.env_causes]
    env_rel = ["verify.env-forced"] if res.env_causes else []
    if slow:
        ev2: list[Evidence | tuple[str, str] | str] = [
            f"{r.op} {human(r.bytes)}: busbw {r.busbw_gbps:.1f} GB/s, {r.note}" for r in slow
        ]
        if res.expectation:
            ev2.extend(("topology", d) for d in res.expectation.details[:4])
        ev2.extend(env_ev)
        worst = min(slow, key=lambda r: r.busbw_gbps / (r.ceiling_gbps or 1))
        out.append(
            make_finding(
                "verify.bandwidth-degraded",
                f"{len(slow)} measurement(s) below the healthy floor; worst {worst.op} {human(worst.bytes)} at "
                f"{worst.busbw_gbps:.1f} GB/s ({worst.note})",
                ev2,
                related=(["verify.transport-fallback"] if fb else []) + env_rel,
            )
        )
        if res.backend in ("xccl", "ccl"):
            # intel/llm-scaler vllm/KNOWN_ISSUES.md #02: a dual-GPU card in a slot left at
            # Auto/x16 reaches 33 GB/s bi-directional P2P; x8/x8 in the BIOS gives over 40.
            out.append(
                make_finding(
                    "oneccl.p2p-slot-limited",
                    f"{res.backend} bandwidth is below the floor; on Arc Pro dual-GPU cards a PCIe slot "
                    "left at Auto/x16 limits P2P (llm-scaler known issue #02)",
                    [("verify", f"worst {worst.op} {human(worst.bytes)}: {worst.busbw_gbps:.1f} GB/s")],
                    related=["verify.bandwidth-degraded"],
                    confidence="suggests",
                )
            )
    slow_lat = [r for r in res.latency if r.verdict == "degraded"]
    prof = res.profile
    slow_prof = [ph for ph in prof.phases if ph.verdict == "degraded"] if prof else []
    if slow_lat or slow_prof:
        ev4: list[Evidence | tuple[str, str] | str] = [
            f"all_reduce {human(r.bytes)}: {r.time_us:.1f} us ({r.timing}), {r.note}" for r in slow_lat
        ]
        ev4.extend(
            f"{ph.phase} {ph.tokens}: {ph.comm_us:g} us per step ({ph.allreduces} x {human(ph.allreduce_bytes)}), "
            f"expected <= {ph.expected_max_us:g}"
            for ph in slow_prof
        )
        ev4.extend(env_ev)
        head = (
            prof.summary
            if prof and slow_prof
            else (
                f"{len(slow_lat)} small all-reduce size(s) slower than {LATENCY_SLACK:g}x the latency floor"
            )
        )
        out.append(make_finding("verify.latency-degraded", head, ev4, related=env_rel))
    if fb:
        peer_expected = res.expectation is not None and res.expectation.link == "nvlink"
        chans = ", ".join(f"{c} channel(s) via {t}" for t, c in sorted(fb.items()))
        msg = f"{res.backend} connected GPUs of one host through {chans}" + (
            " although NVLink is present: traffic goes through host memory or sockets"
            if peer_expected
            else "; peer access may be unavailable here (PCIe topology) or switched off"
        )
        ev3: list[Evidence | tuple[str, str] | str] = []
        if res.transport:
            ev3.extend([("NCCL INFO", ln) for ln in res.transport.lines if _is_fallback(ln)][:6])
        ev3.extend(env_ev)
        out.append(
            make_finding(
                "verify.transport-fallback",
                msg,
                ev3,
                severity=None if peer_expected else "notice",
                confidence="proves" if peer_expected else "suggests",
                related=["verify.bandwidth-degraded"] if slow else [],
            )
        )
    ti = res.transport
    if (
        ti
        and ti.ccl_ipc_exchange
        and res.env.get("CCL_ZE_IPC_EXCHANGE") == "sockets"
        and ti.ccl_ipc_exchange != "sockets"
    ):
        out.append(
            make_finding(
                "oneccl.sockets-overridden",
                f"CCL_ZE_IPC_EXCHANGE=sockets was asked for, oneCCL used {ti.ccl_ipc_exchange}",
                [("CCL_ZE_IPC_EXCHANGE", f"effective: {ti.ccl_ipc_exchange}")],
            )
        )
    bad = {f.cause for f in out} & {
        "verify.bandwidth-degraded",
        "verify.latency-degraded",
        "verify.transport-fallback",
        "verify.rank-failed",
        "verify.rank-hung",
        "verify.wrong-results",
    }
    if bad and res.env_causes:
        seen = [c for c in res.env_causes if c.seen]
        ev5: list[Evidence | tuple[str, str] | str] = []
        for c in res.env_causes:
            ev5.append((c.name, f"{c.name}={c.value} ({c.backend}, forces {c.forces}): {c.effect}"))
            if c.seen:
                ev5.append((f"{c.name} in effect", c.seen))
        names = ", ".join(f"{c.name}={c.value}" for c in res.env_causes)
        out.append(
            make_finding(
                "verify.env-forced",
                f"the ranks ran with {names}, forcing "
                + ", ".join(sorted({c.forces for c in res.env_causes}))
                + f": the likely cause of {', '.join(sorted(bad))}; unset to let the backend choose, then re-run",
                ev5,
                confidence="proves" if seen else "suggests",
                related=sorted(bad),
                context={"env_names": " ".join(c.name for c in res.env_causes)},
            )
        )
    return out


def _is_fallback(line: str) -> bool:
    return " via SHM" in line or " via NET" in line or " via COLLNET" in line
