#!/bin/bash
# cuInit / cuDeviceGetCount / cuCtxCreate under RLIMIT_AS values (KiB for ulimit -v)
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
grep MemTotal /proc/meminfo
cat > /tmp/p.py <<'PY'
import ctypes, resource, sys
print("RLIMIT_AS", resource.getrlimit(resource.RLIMIT_AS))
c = ctypes.CDLL("libcuda.so.1")
r = c.cuInit(0)
s = ctypes.c_char_p()
c.cuGetErrorName(r, ctypes.byref(s)); n = s.value
c.cuGetErrorString(r, ctypes.byref(s))
print("cuInit", r, n, s.value)
if r == 0:
    cnt = ctypes.c_int(); print("count", c.cuDeviceGetCount(ctypes.byref(cnt)), cnt.value)
    ctx = ctypes.c_void_p(); dev = ctypes.c_int(); c.cuDeviceGet(ctypes.byref(dev), 0)
    r2 = c.cuDevicePrimaryCtxRetain(ctypes.byref(ctx), dev)
    c.cuGetErrorName(r2, ctypes.byref(s)); print("ctxRetain", r2, s.value)
    if r2 == 0:
        c.cuCtxSetCurrent(ctx); p = ctypes.c_uint64()
        r3 = c.cuMemAlloc_v2(ctypes.byref(p), 1 << 20); c.cuGetErrorName(r3, ctypes.byref(s)); print("memAlloc", r3, s.value)
PY
for kb in unlimited 1000000000 300000000 200000000 100000000 50000000 20000000 8000000 4000000 2000000; do
  echo "== ulimit -v $kb"; (ulimit -v $kb; python3 /tmp/p.py 2>&1 | tail -5)
done
echo "== CUDA_VISIBLE_DEVICES=0 ulimit -v 20000000"; (export CUDA_VISIBLE_DEVICES=0; ulimit -v 20000000; python3 /tmp/p.py 2>&1|tail -4)
python3 -c "import torch; print(torch.__version__)" 2>&1 | tail -1
