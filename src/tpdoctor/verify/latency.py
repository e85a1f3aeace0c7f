"""Expected time of one small all-reduce: a latency floor from the topology, as NCCL models it.

NCCL picks an algorithm and protocol per call from its own cost model,
    time = latency + bytes / bandwidth,
with constants in NVIDIA/nccl src/graph/tuning.cc (v2.28.9-1, `ncclTunerConstantsDefaults`):

  ring base latency (us), LL / LL128 / Simple                 6.6 / 14.0 / 8.4
  per-step hardware latency (us), ring, LL / LL128 / Simple:
      NVLINK                                                  0.6 / 1.9 / 3.4
      PCI                                                     1.0 / 2.5 / 5.7
  a ring all-reduce takes nsteps = 2 (n - 1) steps            (tuning.cc: `nsteps = 2*(nRanks-1)`)
  LL moves half its line in data (busBw * 0.5, capped at llMaxBws: 141 GB/s on Hopper,
  87.7 Ampere), LL128 120/128 of it (busBw * 0.92)

The floor here is the fastest of the three ring protocols under that model, with the ring's
bandwidth taken from expect.py (the practical ring busbw of the link, 370 GB/s on NV18 H200):
    floor(S) = min_p [ base_p + 2 (n-1) hw_p  +  S * 2 (n-1)/n / bw_p ]
It is a floor, not a prediction: the kernel launch inside a graph, the proxy thread and the
memory fences are in NCCL's constants only on average. On 2xH200 nccl-tests' all_reduce_perf
took 1.08-1.35x this floor at 1-16 MiB (../shared/research/gpu/h200x2-nccl-tests-allreduce.txt:
16.45 / 35.17 / 79.46 us against 15.2 / 26.5 / 60.5), so a healthy run is expected at or below
LATENCY_SLACK x floor.

Not modeled (latency not judged there, numbers still reported): AMD xGMI (RCCL replaces these
tables with its own per-architecture ones), Intel Xe Link (oneCCL publishes no such model),
and any rank count where the ring is not NCCL's choice (NVLS, trees across nodes).
"""

from __future__ import annotations

from dataclasses import dataclass

from tpdoctor.verify.results import Expectation

PROTOCOLS = ("LL", "LL128", "Simple")
RING_BASE_US = {"LL": 6.6, "LL128": 14.0, "Simple": 8.4}
RING_HW_US = {
    "nvlink": {"LL": 0.6, "LL128": 1.9, "Simple": 3.4},
    "pcie": {"LL": 1.0, "LL128": 2.5, "Simple": 5.7},
}
LL_FRACTION = 0.5
LL128_FRACTION = 0.92
LL_MAX_GBPS = 141.0  # llMaxBws, Hopper, one node; applied to every NVIDIA part (conservative: lower floor)
# A healthy all-reduce takes at most this multiple of the floor (see the module docstring).
LATENCY_SLACK = 2.0


@dataclass(frozen=True)
class LatencyModel:
    link: str  # nvlink | pcie
    nranks: int
    ring_busbw_gbps: float
    source: str

    def latency_us(self, proto: str) -> float:
        return RING_BASE_US[proto] + 2 * (self.nranks - 1) * RING_HW_US[self.link][proto]

    def bandwidth_gbps(self, proto: str) -> float:
        bw = self.ring_busbw_gbps
        if proto == "LL":
            return min(LL_MAX_GBPS, bw * LL_FRACTION)
        if proto == "LL128":
            return bw * LL128_FRACTION
        return bw

    def floor_us(self, nbytes: int) -> tuple[float, str]:
        """Fastest protocol's time for an all-reduce of `nbytes` (the buffer each rank holds)."""
        bus_bytes = nbytes * 2 * (self.nranks - 1) / self.nranks
        best = min((self.latency_us(p) + bus_bytes / (self.bandwidth_gbps(p) * 1e3), p) for p in PROTOCOLS)
        return round(best[0], 2), best[1]

    def limit_us(self, nbytes: int) -> float:
        return round(self.floor_us(nbytes)[0] * LATENCY_SLACK, 2)


def model_for(exp: Expectation | None, nranks: int) -> LatencyModel | None:
    """A model where NCCL's constants apply: NVLink or PCIe with a known ring bandwidth, >= 2 ranks."""
    if exp is None or nranks < 2 or not exp.ceiling_gbps or exp.link not in RING_HW_US:
        return None
    return LatencyModel(
        link=exp.link,
        nranks=nranks,
        ring_busbw_gbps=exp.ceiling_gbps,
        source="NCCL v2.28.9 src/graph/tuning.cc ring latencies + expected ring busbw",
    )
