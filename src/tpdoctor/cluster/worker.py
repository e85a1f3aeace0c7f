"""The task run on each Ray node: collect this node's live facts and return them as JSON.

The function is shipped to the workers by value (`remote.py` registers this module with Ray's
cloudpickle), so a node without tpdoctor still runs it and answers "cannot import tpdoctor"
instead of failing to deserialize. It must use only builtins and imports inside its body.
"""

from __future__ import annotations

from typing import Any


def collect_on_node(fault: str | None = None) -> dict[str, Any]:
    """{"facts": snapshot JSON} or {"error": text, "kind": "import" | "error"}.

    `fault` exists for the tests only (TPDOCTOR_CLUSTER_FAULT on the driver): "hang" sleeps,
    "crash" kills the worker process, "import" imports a module that does not exist."""
    import os
    import time

    if fault == "hang":
        time.sleep(3600)
    elif fault == "crash":
        os._exit(17)
    try:
        from pathlib import Path

        if fault == "import":
            import tpdoctor_fault_missing_module  # noqa: F401
        from tpdoctor.facts.collect import collect_facts
        from tpdoctor.facts.snapshot import dump_facts
    except ImportError as exc:
        return {"error": f"cannot import tpdoctor on this node: {exc}", "kind": "import"}
    try:
        facts = collect_facts(Path("/"), dict(os.environ), live=True)
        return {"facts": dump_facts(facts)}
    except Exception as exc:
        return {"error": f"fact collection failed: {type(exc).__name__}: {exc}", "kind": "error"}
