"""oneCCL as a domain: how it picks its Level Zero IPC exchange and walks its device directory.

`model.py` is the pure model (Facts and CheckOptions in, predictions out); rules/oneccl.py turns
its predictions into findings, runner/safefix.py uses its version detection, and explain reads
the same constants, so the three agree on what oneCCL does.
"""
