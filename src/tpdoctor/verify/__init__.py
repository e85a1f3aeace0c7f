"""`tpdoctor verify`: prove tensor parallel works with a real collective.

Layout (one job per module):
  sizes.py      message-size lists ("1M..4G", "64K,1M")
  busbw.py      nccl-tests' algbw/busbw definitions
  expect.py     topology (NVML / nvidia-smi / sysfs) -> expected bus bandwidth
  transport.py  what NCCL / oneCCL chose, read from their INFO logs
  workloads.py  the torch code run in each rank (sweep, exact checks, TP MLP)
  worker.py     one rank's process: `python -m tpdoctor.verify.worker`
  launcher.py   spawns the ranks, watchdog, clean-up
  latency.py    NCCL's latency model -> the floor of one small all-reduce
  inference.py  --profile inference: model presets, decode/prefill sizes, per-token cost
  envcause.py   variables that force channels/algorithm/protocol/transport, and their proof
  verdict.py    measured vs expected -> verdicts and Findings
  run.py        the whole command: options -> launch -> VerifyResult -> Report
torch is imported only by workloads.py/worker.py and by run.py's device probe.
"""
