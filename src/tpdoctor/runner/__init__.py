"""`tpdoctor run`: the container entrypoint that checks first, fixes what it safely can, runs the
command as a child and explains a crash.

- `job.py`: the TP/PP size and backend of a recognisable vLLM / ipex-llm / SGLang command line;
- `safefix.py`: the safe fixes, planned as pure functions of Facts and findings, then applied in
  a private temporary directory and the child's environment only;
- `child.py`: the child process: output passthrough with a bounded capture, signal forwarding,
  the exact exit status.

It reuses the public layers unchanged (facts.collect, rules.registry, explain); cli/run.py wires
them together.
"""
