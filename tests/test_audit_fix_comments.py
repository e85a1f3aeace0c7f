"""--fix keeps comments next to what they describe when it removes, replaces or appends list
items and keys (ruamel attaches a comment line to the entry *before* it)."""

from __future__ import annotations

from pathlib import Path

from deploy_helpers import two_gpu_facts
from tpdoctor.deploy.audit import load
from tpdoctor.deploy.fix import fix_loaded

ITEMS = """\
services:
  s:
    image: intelanalytics/ipex-llm-serving-xpu
    devices:
      # the GPUs
      - /dev/dri/renderD128
      - /dev/mem  # raw memory
      # VPN tunnel for the model download
      - /dev/net/tun  # vpn, keep
    cap_add:
      - SYS_ADMIN
    # weights and caches
    volumes:
      - /dev/dri/by-path:/dev/dri/by-path  # oneCCL drmfd
      - ./models:/llm/models  # model weights
    group_add:
      - render  # by name
    security_opt:
      - label=type:container_t  # keep me
      - seccomp=unconfined
    # keep a big shm
    shm_size: 16g
"""


def _fixed(tmp_path: Path, text: str) -> list[str]:
    p = tmp_path / "c.yaml"
    p.write_text(text)
    out = fix_loaded(load(p), two_gpu_facts(render_gid=992)).text
    p.write_text(out)
    assert fix_loaded(load(p), two_gpu_facts(render_gid=992)).text == out  # idempotent
    return [ln.strip() for ln in out.splitlines()]


def _follows(lines: list[str], comment: str, nxt: str) -> bool:
    return lines[lines.index(comment) + 1] == nxt


def test_comment_lines_stay_before_what_they_describe(tmp_path: Path) -> None:
    lines = _fixed(tmp_path, ITEMS)
    assert _follows(lines, "# the GPUs", "- /dev/dri/renderD128")
    # removed /dev/mem carried the next item's comment
    assert _follows(lines, "# VPN tunnel for the model download", "- /dev/net/tun  # vpn, keep")
    # removed cap_add (its only item) carried the comment of volumes:
    assert _follows(lines, "# weights and caches", "volumes:")
    # removed last security_opt item carried the comment of shm_size; the appended
    # no-new-privileges goes before that comment, not after it
    assert _follows(lines, "# keep a big shm", "shm_size: 16g")
    assert lines.index('- "no-new-privileges:true"') < lines.index("# keep a big shm")


def test_end_of_line_comments_stay_on_their_item(tmp_path: Path) -> None:
    lines = _fixed(tmp_path, ITEMS)
    assert "- label=type:container_t  # keep me" in lines
    assert "- ./models:/llm/models  # model weights" in lines
    assert '- "/dev/dri/by-path:/dev/dri/by-path:ro" # oneCCL drmfd' in lines  # replaced item
    assert '- "992"   # by name' in lines
    assert not any("raw memory" in ln for ln in lines)  # the removed item's own comment goes with it
    assert "SYS_ADMIN" not in "\n".join(lines) and "seccomp" not in "\n".join(lines)


def test_removing_the_first_item_keeps_the_comment_of_the_next(tmp_path: Path) -> None:
    lines = _fixed(
        tmp_path,
        "services:\n  s:\n    image: intelanalytics/ipex-llm-serving-xpu\n    devices:\n"
        "      - /dev/mem  # raw\n      # the GPU\n      - /dev/dri/renderD128\n    shm_size: 16g\n",
    )
    assert _follows(lines, "# the GPU", "- /dev/dri/renderD128")
    assert lines.index("devices:") < lines.index("# the GPU")


def test_comment_before_the_next_service_survives_a_removed_last_key(tmp_path: Path) -> None:
    lines = _fixed(
        tmp_path,
        "services:\n  a:\n    image: intelanalytics/ipex-llm-serving-xpu\n    shm_size: 16g\n"
        "    ipc: host\n  # the second server\n  b:\n    image: intelanalytics/ipex-llm-serving-xpu\n"
        "    shm_size: 16g\n    privileged: true\n# end of file note\n",
    )
    assert "ipc: host" not in lines
    assert _follows(lines, "# the second server", "b:")
    assert lines[-1] == "# end of file note"


def test_new_deploy_block_goes_before_the_next_service_comment(tmp_path: Path) -> None:
    p = tmp_path / "c.yaml"
    p.write_text(
        "services:\n  a:\n    image: vllm/vllm-openai\n    privileged: true\n    shm_size: 16g\n"
        "  # the proxy\n  b:\n    image: nginx\n"
    )
    lines = [ln.strip() for ln in fix_loaded(load(p), None).text.splitlines()]
    assert lines.index("deploy:") < lines.index("# the proxy")
    assert _follows(lines, "# the proxy", "b:")
