"""Message forms of "no GPU platform" that are generic on their own and a cause only in context.

Texts from upstream: torch c10/core/Device.cpp ("Device string must not be empty"), raised through
vLLM's vllm/config/device.py DeviceConfig when platform detection found nothing."""

from __future__ import annotations

from pathlib import Path

from tpdoctor.explain import explain

FRAME = '  File "/usr/local/lib/python3.12/dist-packages/vllm/config/device.py", line 78, in __post_init__'
ERROR = "RuntimeError: Device string must not be empty"


def _causes(tmp_path: Path, *lines: str) -> list[tuple[str, str]]:
    log = tmp_path / "run.log"
    log.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return [(f.cause, f.confidence) for f in explain([str(log)]).findings if f.severity.value != "notice"]


def test_empty_device_string_alone_is_not_a_cause(tmp_path: Path) -> None:
    assert _causes(tmp_path, ERROR) == []


def test_empty_device_string_from_vllm_device_config_is_a_likely_missing_gpu(tmp_path: Path) -> None:
    causes = _causes(tmp_path, FRAME, "    self.device = torch.device(self.device_type)", ERROR)
    assert causes[:1] == [("device.nvidia-node-missing", "suggests")]


def test_empty_device_string_after_vllm_version_line(tmp_path: Path) -> None:
    causes = _causes(tmp_path, "INFO 10-01 12:00:00 [api_server.py:1] vLLM API server version 0.10.1", ERROR)
    assert [c for c, _ in causes][:1] == ["device.nvidia-node-missing"]


def test_cuda_oom_stays_clean(tmp_path: Path) -> None:
    """c10 CUDA out-of-memory is a real failure with no container cause (a negative)."""
    assert _causes(tmp_path, "RuntimeError: CUDA error: out of memory") == []
    assert _causes(tmp_path, "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 20.00 MiB") == []
