#!/bin/sh
# ccl-env.sh CMD [ARGS...]: run CMD with the runtime environment of a pip-installed oneCCL on the
# Level Zero null driver, as an image's entrypoint (setvars.sh) would set it up. Only library
# paths and the null-driver switches are set; FI_PROVIDER and CCL_ATL_TRANSPORT get the recipe's
# values only when the configuration under test left them unset.
# Env: ONECCL_VENV (the version's venv), ONECCL_LZ (null driver dir), ONECCL_COMMON (shim dir).
FI=$ONECCL_VENV/lib/libfabric; [ -d "$FI" ] || FI=$ONECCL_VENV/lib   # <=2021.14: lib/libfabric/, later: lib/
export LD_LIBRARY_PATH="$ONECCL_LZ:$ONECCL_VENV/lib:$FI${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
if [ -d "$FI/prov" ]; then export FI_PROVIDER_PATH="$FI/prov"; else export FI_PROVIDER_PATH="$FI"; fi
export FI_PROVIDER="${FI_PROVIDER:-tcp}" CCL_ATL_TRANSPORT="${CCL_ATL_TRANSPORT:-ofi}"
# the harness runs containers with network_mode none: the KVS (rank rendezvous) uses loopback
export CCL_KVS_IFACE="${CCL_KVS_IFACE:-lo}"
# the null driver, and the shim that makes SYCL list it as a root device (zeshim.c)
export ZE_ENABLE_NULL_DRIVER=1 LD_PRELOAD="$ONECCL_COMMON/libzeshim.so" CCL_ZE_LIBRARY_PATH="$ONECCL_COMMON/libzeshim.so"
exec "$@"
