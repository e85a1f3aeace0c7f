#!/usr/bin/env python3
"""How much of a log explain reads in Python: counted, not timed (steady on a busy machine).

    PYTHONPATH=src python3 bench/scan_counts.py /tmp/b256.log

One process (no scan workers) runs `Scanner.scan_stream` over the file and counts the lines handed to
Python (`_line`), those matched afresh rather than reused from the repeated-line memo (`_match_line`,
absent in trees before d31b75a) and the wrap joins tried (`_wrapped`); prints them and the scan's CPU time.
Compare trees with PYTHONPATH=<tree>/src.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from typing import Any

os.environ["TPDOCTOR_SCAN_WORKERS"] = "0"

from tpdoctor.explain.scanner import Scanner
from tpdoctor.explain.signatures import knowledge_base


def main() -> None:
    scanner = Scanner(knowledge_base())
    counts = {"_line": 0, "_match_line": 0, "_wrapped": 0}

    def counted(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            counts[name] += 1
            return fn(*args, **kwargs)

        return wrapper

    for name in counts:
        if hasattr(scanner, name):
            setattr(scanner, name, counted(name, getattr(scanner, name)))
    t0 = time.process_time()
    with open(sys.argv[1], "rb") as f:
        scanner.scan_stream(f, os.path.basename(sys.argv[1]))
    print(
        f"lines read in Python {counts['_line']}, matched afresh {counts['_match_line']}, "
        f"wrap joins {counts['_wrapped']}, scan CPU {time.process_time() - t0:.2f} s"
    )


if __name__ == "__main__":
    main()
