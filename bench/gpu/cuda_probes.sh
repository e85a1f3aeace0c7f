# Sourced by the one-GPU probe scripts (no_libcuda_h200x1.sh, rlimit_as_h200x1.sh): PY, CUDART (torch's pip libcudart)
# and RT_PROBE, the CUDA runtime's own answer: cudaGetDeviceCount's code and cudaGetErrorString, as CUDA samples and
# ctranslate2 print it (with EXTRA_RT appended, e.g. a cudaFree(0) that creates the context).
PY=$(command -v python3)
CUDART=$("$PY" - <<'PY'
import glob, os, torch
d = os.path.dirname(os.path.dirname(torch.__file__))
c = sorted(glob.glob(os.path.join(d, "nvidia", "**", "libcudart.so*"), recursive=True))
print(c[0] if c else "")
PY
)
RT_PROBE="import ctypes
rt = ctypes.CDLL('$CUDART')
rt.cudaGetErrorString.restype = ctypes.c_char_p
rt.cudaGetErrorName.restype = ctypes.c_char_p
n = ctypes.c_int(0)
e = rt.cudaGetDeviceCount(ctypes.byref(n))
print('cudaGetDeviceCount returned %d (%s): %s; count %d' % (e, rt.cudaGetErrorName(e).decode(), rt.cudaGetErrorString(e).decode(), n.value))${EXTRA_RT:-}"
