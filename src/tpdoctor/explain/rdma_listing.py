"""RDMA devices listed twice: the HCAs in sysfs against the verbs nodes in /dev/infiniband.

A container sees every HCA of the host under /sys/class/infiniband (sysfs is not scoped by the device
cgroup), but only the /dev/infiniband/uverbsN nodes it was given can be opened. `ls /sys/class/infiniband`
listing mlx5_0..mlx5_3 next to `ls /dev/infiniband` listing uverbs0 and uverbs2 is a container given some
of the host's RDMA devices: ibv_open_device() fails on the others (rdma-core libibverbs device.c opens
/dev/infiniband/uverbsN; librdmacm rdma_get_devices returned ENODEV before linux-rdma/rdma-core#1060), and NCCL
prints "NET/IB : Unable to open device" for them. Kubernetes RDMA device plugins hand out a subset this way.
"""

from __future__ import annotations

from dataclasses import dataclass

from tpdoctor.explain.scanner import ScanResult, SigHit


@dataclass(frozen=True)
class Partial:
    hcas: list[str]
    uverbs: list[str]
    hit: SigHit

    def why(self) -> str:
        return (
            f"sysfs lists {len(self.hcas)} RDMA devices ({', '.join(self.hcas[:6])}) but /dev/infiniband holds only "
            f"{', '.join(self.uverbs)}: the container was given some of the host's verbs nodes, so the other HCAs "
            "cannot be opened (pass all of /dev/infiniband, or request every HCA from the RDMA device plugin)."
        )


def partial_uverbs(scan: ScanResult) -> Partial | None:
    """Fewer /dev/infiniband/uverbsN nodes than HCAs in the same log's sysfs listing."""
    hcas = sorted({name for value in scan.facts.values.get("ib_hca_list", []) for name in value.split()})
    uverbs = sorted(
        {
            name
            for value in scan.facts.values.get("uverbs_list", [])
            for name in value.split()
            if name.startswith("uverbs")
        }
    )
    if not hcas or not uverbs or len(uverbs) >= len(hcas):
        return None
    seen = scan.facts.first.get("uverbs_list")
    if seen is None:
        return None
    return Partial(hcas, uverbs, SigHit(seen[1], f"/dev/infiniband: {seen[0]}", seen[2], {}))
