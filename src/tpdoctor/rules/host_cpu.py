"""The CPU under the GPU job: an x86 CPU without AVX (issue 13, gnew46).

GPU runtimes and frameworks built for x86-64 with AVX refuse the GPU or abort on a CPU that does not list it: Ollama
before 0.6 ('CPU does not have AVX or AVX2, disabling GPU support.', ollama/ollama gpu/gpu.go), TensorFlow's wheels
('The TensorFlow library was compiled to use AVX instructions, but these aren't available on your machine.',
cpu_feature_guard.cc), other AVX builds with SIGILL. In a VM the CPU model decides what the guest sees: Proxmox's
default kvm64 / x86-64-v2-AES and qemu64 hide the host's AVX (explain: host.cpu-avx-missing)."""

from __future__ import annotations

from collections.abc import Iterator

from tpdoctor.model import CheckOptions, Evidence, Facts, Finding, make_finding
from tpdoctor.rules.context import facts_fix_context
from tpdoctor.rules.gpus import any_gpu_node, infer_backend
from tpdoctor.rules.registry import fact_rule


@fact_rule("host.cpu-avx-missing")
def cpu_without_avx(facts: Facts, options: CheckOptions) -> Iterator[Finding]:
    """Does the x86 CPU the GPU job runs on list AVX?

    What it checks: /proc/cpuinfo's first `flags` line, on an x86 CPU (one that lists sse2; arm64's `Features` is
    not read), where a GPU node is present or a backend is given: `avx` absent is this finding, and the
    `hypervisor` flag (set in a guest's CPUID) says a VM's CPU model hides it rather than an old CPU lacking it.

    Why it matters: builds that assume AVX refuse the GPU or abort: Ollama before 0.6 logs 'CPU does not have AVX
    or AVX2, disabling GPU support.' (later 'CPU does not have minimum vector extensions, GPU inference disabled')
    and runs on the CPU; TensorFlow aborts at import ('compiled to use AVX instructions, but these aren't
    available'); other AVX builds die with 'Illegal instruction'. Proxmox's default CPU types (kvm64, x86-64-v2-AES)
    and qemu64 give the guest no AVX even with a GPU passed through. PyTorch and CUDA themselves run without it,
    hence degraded and suggests.

    How to fix: give the VM the host's CPU model (Proxmox CPU type `host` or x86-64-v3, libvirt
    `<cpu mode='host-passthrough'/>`) and stop/start it; on a CPU without AVX, use builds that do not need it
    (Ollama 0.6+).
    """
    cpu = facts.cpu
    if cpu.avx is not False:
        return
    if not any_gpu_node(facts) and infer_backend(facts, options) is None:
        return
    model = f" ({cpu.model})" if cpu.model else ""
    if cpu.hypervisor:
        message = (
            f"this is a VM whose CPU model{model} shows no AVX: the hypervisor hides the host CPU's vector extensions "
            "(Proxmox's kvm64 / x86-64-v2 default, qemu64); Ollama before 0.6 disables the GPU and TensorFlow "
            "aborts on it"
        )
    else:
        message = (
            f"the CPU{model} has no AVX: Ollama before 0.6 disables the GPU on it and AVX builds (TensorFlow's "
            "wheels) abort or die with Illegal instruction"
        )
    shown = "flags: no avx" + (", hypervisor" if cpu.hypervisor else "")
    yield make_finding(
        "host.cpu-avx-missing",
        message,
        [Evidence(source="/proc/cpuinfo", text=shown + (f"; model name: {cpu.model}" if cpu.model else ""))],
        context=facts_fix_context(facts),
        confidence="suggests",
        severity="degraded",
        prefer="vm-cpu-type-host" if cpu.hypervisor else "build-without-avx",
    )
