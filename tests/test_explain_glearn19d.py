"""Issue 13, heldout19 lessons (glearn19d): vLLM's environment collided with by Kubernetes service links, and
OpenCL counting no platform although Intel's GPU ICD is installed.

Lines are written from the code and docs that print them (not copied from the heldout19 logs): vllm/envs.py
get_vllm_port ("VLLM_PORT '%s' appears to be a URI. This may be caused by a Kubernetes service discovery
issue," / "must be a valid integer"), the older `lambda: int(os.getenv('VLLM_PORT', '0'))` and its ValueError on
tcp://<ip>:<port> (the {SVCNAME}_PORT value Kubernetes injects), validate_environ's "Unknown vLLM environment
variable detected: %s", the vLLM docs' Kubernetes note retold, and clinfo's "Number of platforms 0" next to
/etc/OpenCL/vendors/intel.icd.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from explain_helpers import all_causes as _all
from explain_helpers import findings as _findings


@pytest.mark.parametrize(
    ("text", "cause", "strength"),
    [
        # vLLM >= 0.9 get_vllm_port: a URI in VLLM_PORT
        ("(EngineCore_0 pid=88) ValueError: VLLM_PORT 'tcp://10.43.7.21:8000' appears to be a URI. This may be "
         "caused by a Kubernetes service discovery issue,check the warning in: "
         "https://docs.vllm.ai/en/stable/serving/env_vars.html\n", "env.invalid-value", "proves"),
        ("ValueError: VLLM_PORT 'eight thousand' must be a valid integer\n", "env.invalid-value", "proves"),
        ("ValueError: APHRODITE_PORT 'tcp://10.0.3.4:2242' appears to be a URI. This may be caused by a Kubernetes "
         "service discovery issue.\n", "env.invalid-value", "proves"),
        # vLLM <= 0.8: int() of the service-link value, with and without the frame line
        ("  File \"/usr/local/lib/python3.10/dist-packages/vllm/envs.py\", line 180, in <lambda>\n"
         "    lambda: int(os.getenv('VLLM_PORT', '0'))\n"
         "ValueError: invalid literal for int() with base 10: 'tcp://10.96.44.2:8000'\n",
         "env.invalid-value", "proves"),
        ("ValueError: invalid literal for int() with base 10: 'tcp://172.30.0.9:6379'\n", "env.invalid-value",
         "proves"),
        ("    lambda: int(os.getenv(\"VLLM_PORT\", \"0\")) if \"VLLM_PORT\" in os.environ else None,\n",
         "env.invalid-value", "suggests"),
        # the same service-link value refused by other languages' integer parsers
        ('panic: strconv.Atoi: parsing "tcp://10.100.9.8:9090": invalid syntax\n', "env.invalid-value", "proves"),
        ('Caused by: java.lang.NumberFormatException: For input string: "tcp://10.0.8.3:8080"\n',
         "env.invalid-value", "proves"),
        ("port\n  Input should be a valid integer, unable to parse string as an integer [type=int_parsing, "
         "input_value='tcp://10.96.3.3:30000', input_type=str]\n", "env.invalid-value", "proves"),
        # an environment dump showing the injected value
        ("$ kubectl exec deploy/vllm -- env | grep VLLM\nVLLM_SERVICE_HOST=10.96.200.11\n"
         "VLLM_PORT=tcp://10.96.200.11:8000\n", "env.invalid-value", "suggests"),
        # validate_environ: names vLLM does not read (service links, removed variables)
        ("INFO 06-01 08:00:00 [api_server.py:1090] vLLM API server version 0.11.0\n"
         "WARNING 06-01 08:00:00 [envs.py:1390] Unknown vLLM environment variable detected: VLLM_QWEN_SERVICE_HOST\n"
         "WARNING 06-01 08:00:00 [envs.py:1390] Unknown vLLM environment variable detected: "
         "VLLM_QWEN_PORT_8000_TCP_PROTO\n", "env.unknown-variable", "suggests"),
        ("(APIServer pid=1) WARNING 06-01 08:00:00 [envs.py:1744] Unknown vLLM environment variable detected: "
         "VLLM_ATTENTION_BACKEND\n", "env.unknown-variable", "suggests"),
        ("ValueError: Unknown vLLM environment variable detected: VLLM_ENABLE_CHUNKED_PREFIL\n",
         "env.unknown-variable", "suggests"),
        # the collision retold
        ("Fix: set enableServiceLinks to false in the InferenceService pod template so no VLLM_* names leak in.\n",
         "env.unknown-variable", "suggests"),
        ("Kubernetes service links inject VLLM_SERVICE_HOST and VLLM_PORT into every pod of the namespace.\n",
         "env.unknown-variable", "suggests"),
        ("Please do not name the service as vllm, otherwise environment variables set by Kubernetes might conflict "
         "with vLLM's environment variables.\n", "env.unknown-variable", "suggests"),
        # clinfo: no platform while Intel's GPU ICD is installed -> the node is not openable (render group)
        ("$ clinfo\nNumber of platforms                               0\n$ ls /etc/OpenCL/vendors\nintel.icd\n",
         "device.group-denied", "suggests"),
        ("$ cat /etc/OpenCL/vendors/intel.icd\n/usr/lib/x86_64-linux-gnu/intel-opencl/libigdrcl.so\n"
         "$ clinfo\nNumber of platforms                               0\n", "device.group-denied", "suggests"),
        # a listed render node with group-only access and `id` of a user outside it
        ("$ ls -l /dev/dri\ncrw-rw---- 1 root render 226, 128 Mar  1 10:00 renderD128\n$ id\n"
         "uid=1000(ana) gid=1000(ana) groups=1000(ana),27(sudo)\n$ clinfo\n"
         "Number of platforms                               0\n", "device.group-denied", "suggests"),
        # in a container given /dev/dri, ICD installed: access; started without /dev/dri: the node is missing
        ("$ docker run --rm -it --device /dev/dri -u 1000 intel/oneapi-basekit bash\n$ clinfo\n"
         "Number of platforms                               0\n$ ls /etc/OpenCL/vendors/\nintel.icd\n",
         "device.group-denied", "suggests"),
        ("$ docker run --rm -it intel/oneapi-basekit bash\nroot@1a2b:/# clinfo\n"
         "Number of platforms                               0\nroot@1a2b:/# ls /etc/OpenCL/vendors\nintel.icd\n",
         "device.render-node-missing", "suggests"),
    ],
)
def test_a_heldout19d_family_form_is_named(tmp_path: Path, text: str, cause: str, strength: str) -> None:
    found = _findings(tmp_path, text)
    assert found and found[0] == (cause, strength), found


@pytest.mark.parametrize(
    ("text", "not_cause"),
    [
        # the official image's own build variables: warned on every healthy start
        ("WARNING 06-01 08:00:00 [envs.py:2027] Unknown vLLM environment variable detected: VLLM_BUILD_COMMIT\n"
         "WARNING 06-01 08:00:00 [envs.py:2027] Unknown vLLM environment variable detected: VLLM_IMAGE_TAG\n",
         "env.unknown-variable"),
        # a healthy vLLM port and other int() failures
        ("INFO 06-01 08:00:00 [api_server.py:1090] Starting vLLM API server on http://0.0.0.0:8000\n",
         "env.invalid-value"),
        ("ValueError: invalid literal for int() with base 10: 'abc'\n", "env.invalid-value"),
        ("ValueError: invalid literal for int() with base 10: 'tcp'\n", "env.invalid-value"),
        ("VLLM_PORT=8000\nVLLM_HOST_IP=10.0.0.5\n", "env.invalid-value"),
        ('strconv.Atoi: parsing "abc": invalid syntax\n', "env.invalid-value"),
        ('java.lang.NumberFormatException: For input string: "12a"\n', "env.invalid-value"),
        # a pod spec that already disables service links, and a healthy service listing
        ("spec:\n  enableServiceLinks: false\n  containers:\n  - name: vllm\n", "env.unknown-variable"),
        ("spec:\n  enableServiceLinks: false\n  containers:\n  - name: vllm\n", "env.invalid-value"),
        ("service/vllm-router   ClusterIP   10.96.1.2   <none>   8000/TCP   3d\n", "env.invalid-value"),
        # clinfo with no platform and no ICD installed (an image without the driver), and a healthy clinfo
        ("root@c0ffee:/# clinfo\nNumber of platforms                               0\nroot@c0ffee:/# ls /dev/dri\n"
         "card0  renderD128\n", "device.group-denied"),
        ("$ ls /etc/OpenCL/vendors\nintel.icd\n$ clinfo\nNumber of platforms                               1\n",
         "device.group-denied"),
        # the small BAR explains the missing platform better
        ("WARNING: Small BAR detected for device 0000:03:00.0\nNumber of platforms                               0\n"
         "/etc/OpenCL/vendors/intel.icd\n", "device.group-denied"),
    ],
)
def test_a_heldout19d_neighbour_stays_clean(tmp_path: Path, text: str, not_cause: str) -> None:
    if "Small BAR" in text:
        found = _findings(tmp_path, text)
        assert found and found[0][0] == "xpu.resizable-bar-disabled", found
        return
    assert not_cause not in _all(tmp_path, text)
