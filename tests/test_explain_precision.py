"""Precision of `tpdoctor explain` (issue 13, items 5 and 6): the error the run died of decides between
guesses, lines a run got past are not blockers, and healthy runs written from the upstream format strings
give nothing above notice. Every test line is a format string of the program that prints it (cited)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from explain_helpers import causes, notes
from tpdoctor.explain import explain
from tpdoctor.explain.correlate import diagnose
from tpdoctor.explain.scanner import Scanner
from tpdoctor.explain.signatures import knowledge_base, parse_knowledge_base

HEALTHY = Path(__file__).parent / "data" / "explain-healthy"

# NVIDIA/nccl src/misc/ibvwrap.cc IBV_PTR_CHECK_ERRNO: "Call to %s failed with error %s" (a warning that
# several causes print: RLIMIT_MEMLOCK, exhausted pinned pages, a kernel regression)
IBV_ENOMEM = "node1:100:200 [0] NCCL WARN Call to ibv_reg_mr failed with error Cannot allocate memory\n"
TRACEBACK = 'Traceback (most recent call last):\n  File "/app/serve.py", line 12, in <module>\n'

# The last exception of the log, one per non-container family (explain/terminal.py names each source).
NOT_CONTAINER_ENDS = [
    # c10/cuda/CUDACachingAllocator.cpp
    "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 has a total capacity of 79.11 GiB",
    # CPython importlib/_bootstrap.py _ERR_MSG_PREFIX
    "ModuleNotFoundError: No module named 'flash_attn'",
    # huggingface_hub utils/_http.py hf_raise_for_status (GatedRepoError)
    "huggingface_hub.errors.GatedRepoError: 403 Client Error. Cannot access gated repo for url https://huggingface.co/meta-llama/Llama-3.1-8B/resolve/main/config.json.",
    # transformers utils/hub.py cached_file
    "OSError: foo/bar is not a local folder and is not a valid model identifier listed on 'https://huggingface.co/models'",
    # vllm model_executor/models/registry.py _raise_for_unsupported
    "ValueError: Model architectures ['FooForCausalLM'] are not supported for now. Supported architectures: ['LlamaForCausalLM']",
    # vllm v1/core/kv_cache_utils.py check_enough_kv_cache_memory
    "ValueError: No available memory for the cache blocks. Try increasing `gpu_memory_utilization` when initializing the engine.",
    # aten/src/ATen/ExpandUtils.cpp infer_size_impl
    "RuntimeError: The size of tensor a (4096) must match the size of tensor b (2048) at non-singleton dimension 1",
    # CUDA runtime cudaErrorNoKernelImageForDevice string, as torch raises it
    "RuntimeError: CUDA error: no kernel image is available for execution on the device",
]


def _report(tmp_path: Path, text: str) -> list[tuple[str, str]]:
    log = tmp_path / "p.log"
    log.write_text(text)
    return [(f.cause, f.severity.value) for f in explain([str(log)]).findings]


def test_the_guess_is_a_blocker_when_nothing_contradicts_it(tmp_path: Path) -> None:
    assert causes(tmp_path, IBV_ENOMEM) == ["rdma.memlock-too-low"]


@pytest.mark.parametrize("end", NOT_CONTAINER_ENDS)
def test_a_non_container_end_makes_earlier_guesses_notices(tmp_path: Path, end: str) -> None:
    found = _report(tmp_path, IBV_ENOMEM + TRACEBACK + end + "\n")
    assert ("rdma.memlock-too-low", "notice") in found, found
    assert not [c for c, sev in found if sev != "notice"], found


def test_an_end_with_no_known_family_changes_nothing(tmp_path: Path) -> None:
    # a generic exception says nothing about the cause: the earlier line stays the diagnosis
    assert causes(tmp_path, IBV_ENOMEM + TRACEBACK + "RuntimeError: something else went wrong\n") == [
        "rdma.memlock-too-low"
    ]


def test_the_family_counts_only_as_the_last_exception(tmp_path: Path) -> None:
    # the same Hub text printed as a caught warning earlier (a tokenizer fallback) does not end the run
    text = (
        "Error loading tokenizer: OSError: foo/bar is not a local folder and is not a valid model identifier listed on "
        "'https://huggingface.co/models'\n" + IBV_ENOMEM + TRACEBACK + "RuntimeError: NCCL communicator failed\n"
    )
    assert causes(tmp_path, text) == ["rdma.memlock-too-low"]


def test_a_proven_cause_after_the_last_exception_survives(tmp_path: Path) -> None:
    # moby/sys/user: "unable to find group %s: no matching entries in group file" proves the cause; printed
    # after the OOM traceback (the next start of the container failed), the run did not get past it
    group = "docker: Error response from daemon: unable to find group render: no matching entries in group file.\n"
    assert causes(tmp_path, TRACEBACK + NOT_CONTAINER_ENDS[0] + "\n" + group)[0] == "device.group-name-unresolved"


def test_wrapper_lines_are_not_the_terminal_error(tmp_path: Path) -> None:
    # vLLM v1 engine/utils.py: the wrapper after the real error is not what the run died of
    text = IBV_ENOMEM + TRACEBACK + NOT_CONTAINER_ENDS[0] + "\nRuntimeError: Engine core initialization failed. See root cause above.\n"
    found = _report(tmp_path, text)
    assert ("rdma.memlock-too-low", "notice") in found, found


def test_the_cause_on_the_terminal_line_ranks_first_among_equals(tmp_path: Path) -> None:
    # two blockers that only suggest: the one whose line is the error the run died of leads,
    # although the other one's line comes first (c10 torch/cuda/__init__.py _lazy_init: "No CUDA GPUs are available")
    text = IBV_ENOMEM + TRACEBACK + "RuntimeError: No CUDA GPUs are available\n"
    found = causes(tmp_path, text)
    no_gpus = next(s for s in knowledge_base().signatures if s.id == "cuda.no-gpus").causes[0]
    assert found[:2] == [no_gpus, "rdma.memlock-too-low"], found


def test_the_scanner_keeps_the_last_exception_with_its_signatures(tmp_path: Path) -> None:
    log = tmp_path / "t.log"
    log.write_text(IBV_ENOMEM + "ComfyUI error: RuntimeError: No CUDA GPUs are available\nINFO done\n")
    scanner = Scanner(knowledge_base())
    with log.open("rb") as fh:
        scanner.scan_stream(fh, "t.log")
    t = scanner.result.terminal
    assert t is not None and t.line == 2 and "cuda.no-gpus" in t.sigs


# ---- blockers that the run got past (fact run_ok)

# ray python/ray/_private/services.py: the object store moved to /tmp because /dev/shm is small
RAY_TMP = (
    "WARNING services.py:2009 -- WARNING: The object store is using /tmp instead of /dev/shm because /dev/shm has only "
    "67108864 bytes available. This will harm performance!\n"
)


@pytest.mark.parametrize(
    "ok_line",
    [
        "INFO:     Application startup complete.",  # uvicorn server.py
        "(EngineCore pid=1) INFO 04-27 07:55:18 [core.py:283] init engine (profile, create kv cache, warmup model) took 136.57 seconds",
        "[2026-03-11 13:53:33] The server is fired up and ready to roll!",  # sglang http_server.py
        "node1:100:200 [0] NCCL INFO ncclCommInitRank comm 0x55d0 rank 0 nranks 2 cudaDev 0 nvmlDev 0 busId 1000 commId 0x5d2e - Init COMPLETE",
        "# Avg bus bandwidth    : 180.5",  # nccl-tests src/common.cu
        "# Out of bounds values : 0 OK",  # nccl-tests src/common.cu
        "#       size         count      type   redop    root     time   algbw   busbw #wrong     time   algbw   busbw #wrong",
        "INFO 09-03 16:28:40 [kv_cache_utils.py:849] GPU KV cache size: 1,118,048 tokens",  # vllm v1 kv_cache_utils.py
        'INFO:     10.0.0.5:41234 - "POST /v1/chat/completions HTTP/1.1" 200 OK',  # uvicorn access log
        "INFO 06-01 10:01:00 metrics.py:351] Avg prompt throughput: 12.3 tokens/s, Avg generation throughput: 45.6 tokens/s",
    ],
)
def test_a_blocker_followed_by_a_run_that_went_on_is_a_notice(tmp_path: Path, ok_line: str) -> None:
    assert causes(tmp_path, RAY_TMP) == ["shm.too-small"]
    found = _report(tmp_path, RAY_TMP + ok_line + "\n")
    assert found == [("shm.too-small", "notice")], found


def test_a_blocker_after_the_run_went_on_stays(tmp_path: Path) -> None:
    assert causes(tmp_path, "INFO:     Application startup complete.\n" + RAY_TMP) == ["shm.too-small"]


def test_a_wrapper_script_announcing_the_server_is_not_a_run_that_went_on(tmp_path: Path) -> None:
    # a launch script's `echo "Starting vLLM API server..."` comes before vLLM runs; vLLM's own line is
    # api_server.py run_server "Starting vLLM API server on http://%s:%d"
    assert causes(tmp_path, RAY_TMP + "Starting vLLM API server...\n") == ["shm.too-small"]
    assert causes(tmp_path, RAY_TMP + "INFO 06-01 10:00:31 api_server.py:561] Starting vLLM API server on http://0.0.0.0:8000\n") == []


# vLLM read a cached P2P verdict (custom_all_reduce_utils.gpu_p2p_access_check): the warning after it is a cause
P2P_CACHE_READ = (
    "INFO custom_all_reduce_utils.py:232] reading GPU P2P access cache from "
    "/root/.cache/vllm/gpu_p2p_access_cache_for_0,1.json\n"
)


def test_a_degraded_cause_stays_when_the_run_goes_on(tmp_path: Path) -> None:
    # vllm custom_all_reduce.py after a cached P2P verdict (alone, the warning is a PCIe pair's every start: a
    # note): the run works, slower: still worth a warning
    text = (
        P2P_CACHE_READ
        + "WARNING custom_all_reduce.py:143] Custom allreduce is disabled because your platform lacks GPU P2P capability or "
        "P2P test failed. To silence this warning, specify disable_custom_all_reduce=True explicitly.\n"
        "INFO:     Application startup complete.\n"
    )
    assert causes(tmp_path, text) == ["vllm.custom-allreduce-p2p"]


def test_after_condition_in_signature_data(tmp_path: Path) -> None:
    """`benign_with: [after:...]`: benign only when that line follows the signature's last hit in the same file."""
    raw = {
        "include_error_codes": False,
        "signatures": [
            {
                "id": "t.retry",
                "literals": ["connect failed, retrying"],
                "pattern": "connect failed, retrying",
                "causes": ["network.wrong-interface"],
                "strength": "suggests",
                "benign_with": ["after:fact:run_ok", "after:t.joined"],
                "benign": "retried (line {line:t.retry}) and went on",
            },
            {"id": "t.joined", "literals": ["joined the group"], "pattern": "joined the group", "causes": []},
        ],
        "facts": [{"id": "run-ok", "literals": ["Init COMPLETE"], "pattern": "(?P<run_ok>Init COMPLETE)"}],
    }
    kb = parse_knowledge_base(raw)

    def diagnosed(text: str) -> list[str]:
        scanner = Scanner(kb)
        log = tmp_path / "a.log"
        log.write_text(text)
        with log.open("rb") as fh:
            scanner.scan_stream(fh, "a.log")
        return [s.cause for s in diagnose(scanner.result, kb).supports]

    assert diagnosed("connect failed, retrying\n") == ["network.wrong-interface"]
    assert diagnosed("connect failed, retrying\nInit COMPLETE\n") == []
    assert diagnosed("connect failed, retrying\njoined the group\n") == []
    # the success before the last retry proves nothing about that retry
    assert diagnosed("Init COMPLETE\nconnect failed, retrying\n") == ["network.wrong-interface"]


# ---- healthy runs from the format strings (tests/data/explain-healthy/README.md)


@pytest.mark.parametrize("name", sorted(p.name for p in HEALTHY.glob("*.log")))
def test_healthy_runs_give_nothing_above_notice(name: str) -> None:
    report = explain([str(HEALTHY / name)])
    assert not [f.cause for f in report.findings if f.severity.value != "notice"]
    # the lines were read: the run's own success marker and facts are there
    assert report.facts.get("run_ok"), report.facts


def test_healthy_nccl_log_is_read_as_one_node_over_p2p() -> None:
    report = explain([str(HEALTHY / "nccl-2.21.5-two-ranks-one-container.log")])
    assert report.facts.get("n_nodes") == "1" and report.facts.get("transport") == "P2P/CUMEM/read"


def test_healthy_ray_log_keeps_the_shm_warning_as_a_notice() -> None:
    report = explain([str(HEALTHY / "vllm-ray-tp2-object-store-in-tmp-then-ready.log")])
    assert [(f.cause, f.severity.value) for f in report.findings] == [("shm.too-small", "notice")]


# ---- strength discipline


@pytest.mark.parametrize(
    "line",
    [
        IBV_ENOMEM,
        # oneCCL ze_fd_manager.cpp: ESRCH is another PID namespace or a peer that already exited
        "|CCL_ERROR| pidfd_open failed: fd: -1, pid: 4242, errno: No such process\n",
        # NVML_ERROR_UNKNOWN via libnvidia-container / nvidia-smi
        "Failed to initialize NVML: Unknown Error\n",
        # NCCL init.cc: two ranks on one device, with a mask in play (bare: a note, below)
        "CUDA_VISIBLE_DEVICES=0\nnode1:1:1 [0] NCCL WARN Duplicate GPU detected : rank 1 and rank 0 both on CUDA device 1000\n",
    ],
)
def test_lines_several_causes_print_do_not_prove(tmp_path: Path, line: str) -> None:
    log = tmp_path / "s.log"
    log.write_text(line)
    findings = explain([str(log)]).findings
    assert findings and findings[0].confidence == "suggests", [(f.cause, f.confidence) for f in findings]


@pytest.mark.parametrize(
    "end",
    [
        "TypeError: LLM.__init__() got an unexpected keyword argument 'swap_space'",  # CPython getargs.c
        "AttributeError: module 'torch' has no attribute 'float8_e4m3fn'",  # CPython moduleobject.c
        "torch._inductor.exc.InductorError: CompilationError: at 12:4: unsupported type",  # torch/_inductor/exc.py
        # pydantic_core, vLLM >= 0.10 config dataclasses
        "pydantic_core._pydantic_core.ValidationError: 1 validation error for ModelConfig",
    ],
)
def test_version_and_config_mismatches_end_the_run_without_a_container_cause(tmp_path: Path, end: str) -> None:
    log = tmp_path / "v.log"
    log.write_text(IBV_ENOMEM + TRACEBACK + end + "\n")
    report = explain([str(log)])
    assert [(f.cause, f.severity.value) for f in report.findings] == [("rdma.memlock-too-low", "notice")]
    assert report.facts["terminal_error"]["kind"] == "not-container"
    assert any(n.startswith("the run ended with") for n in report.notes), report.notes


def test_terminal_error_is_in_the_facts_even_when_it_is_a_container_cause(tmp_path: Path) -> None:
    log = tmp_path / "c.log"
    log.write_text(TRACEBACK + "RuntimeError: No CUDA GPUs are available\n")
    facts = explain([str(log)]).facts
    assert facts["terminal_error"]["kind"] == "container" and facts["terminal_error"]["line"] == 3


def test_a_proven_cost_in_speed_is_not_why_a_run_died_of_oom(tmp_path: Path) -> None:
    # vllm custom_all_reduce.py warning after a cached P2P verdict (proves vllm.custom-allreduce-p2p, degraded),
    # then the run dies of OOM
    warn = (
        P2P_CACHE_READ
        + "WARNING custom_all_reduce.py:143] Custom allreduce is disabled because your platform lacks GPU P2P capability "
        "or P2P test failed. To silence this warning, specify disable_custom_all_reduce=True explicitly.\n"
    )
    assert causes(tmp_path, warn) == ["vllm.custom-allreduce-p2p"]
    found = _report(tmp_path, warn + TRACEBACK + NOT_CONTAINER_ENDS[0] + "\n")
    assert found == [("vllm.custom-allreduce-p2p", "notice")], found


@pytest.mark.parametrize(
    ("line", "guessed"),
    [
        # the CUDA runtime's no-kernel-image string, as torch raises it: a build for another GPU
        ("RuntimeError: CUDA error: no kernel image is available for execution on the device", False),
        # docker's port-allocated error (root: not-container signature docker.port-allocated)
        (
            "docker: Error response from daemon: driver failed programming external connectivity on endpoint vllm: "
            "Bind for 0.0.0.0:8000 failed: port is already allocated.",
            False,
        ),
    ],
)
def test_no_container_guesses_for_a_failure_with_no_container_cause(tmp_path: Path, line: str, guessed: bool) -> None:
    log = tmp_path / "f.log"
    log.write_text(line + "\n")
    report = explain([str(log)])
    first = report.facts["first_error"]
    assert bool(first["guesses"]) is guessed and first["not_container"], first


def test_an_unknown_first_error_still_gets_guesses(tmp_path: Path) -> None:
    # NCCL socket.cc-style text no signature knows verbatim: the fallback still offers the nearest causes
    log = tmp_path / "g.log"
    log.write_text("RuntimeError: bootstrap socket interface eth0 could not connect to peer rank 1 over tcp\n")
    first = explain([str(log)]).facts["first_error"]
    assert "not_container" not in first


def test_a_proven_blocker_the_run_got_past_is_not_why_it_died(tmp_path: Path) -> None:
    # Ray's object store in /tmp (proves a small /dev/shm, a blocker) and then the run dies of CUDA OOM:
    # it got past the warning; in another file the OOM says nothing about it
    found = _report(tmp_path, RAY_TMP + TRACEBACK + NOT_CONTAINER_ENDS[0] + "\n")
    assert found == [("shm.too-small", "notice")], found
    other = tmp_path / "rank1.log"
    other.write_text(TRACEBACK + NOT_CONTAINER_ENDS[0] + "\n")
    first = tmp_path / "rank0.log"
    first.write_text(RAY_TMP)
    report = explain([str(first), str(other)])
    assert [(f.cause, f.severity.value) for f in report.findings] == [("shm.too-small", "blocker")]


# ---- every NCCL/RCCL INFO line alone (tests/data/explain-healthy/README.md: 840 format strings, three NCCL trees + RCCL)

_CONVERSIONS = (
    (re.compile(r"%[-+ #0]*\d*(?:\.\d+)?(?:ll|l|z|h)?[dui]"), "1"),
    (re.compile(r"%[-+ #0]*\d*(?:\.\d+)?(?:ll|l|z)?[xX]"), "1f"),
    (re.compile(r"%[-+ #0]*\d*(?:\.\d+)?[fFgGe]"), "1.5"),
    (re.compile(r"%p"), "0x55d0"),
    (re.compile(r"%-?\d*s"), "eth0"),
    (re.compile(r"%c"), "a"),
)


def _nccl_info_lines() -> list[str]:
    out = []
    for fmt in (HEALTHY / "nccl-info-formats.txt").read_text().splitlines():
        line = fmt.replace("%%", "%").replace("\\n", "")
        for pattern, value in _CONVERSIONS:
            line = pattern.sub(value, line)
        out.append("ab12cd34:1:1 [0] NCCL INFO " + line)
    return out


def test_no_nccl_info_line_alone_is_a_warning(tmp_path: Path) -> None:
    lines = _nccl_info_lines()
    assert len(lines) > 800
    kb = knowledge_base()
    # a line that no signature matches cannot give a finding alone: explain only the lines some signature matches
    matched = [ln for ln in lines if any(lit in ln for s in kb.signatures for lit in s.literals)]
    assert matched, "the filled lines were not read"
    above = {}
    for line in matched:
        found = causes(tmp_path, line + "\n")
        if found:
            above[line] = found
    # NCCL reports an environment variable it could not parse and ignores it: a real user error
    assert {c for found in above.values() for c in found} <= {"env.invalid-value"}, above
    assert all("Ignoring" in line or "invalid value" in line for line in above), above


def test_no_next_step_hint_for_a_demoted_guess(tmp_path: Path) -> None:
    # nccl.ib-open-device-failed carries a hint (pass /dev/infiniband); once the run is known to have died of OOM
    # that hint would send the user the wrong way
    line = "node1:1:1 [0] NCCL WARN Call to ibv_open_device failed\n"
    log = tmp_path / "h.log"
    log.write_text(line)
    assert any(n.startswith("hint:") for n in explain([str(log)]).notes)
    log.write_text(line + TRACEBACK + NOT_CONTAINER_ENDS[0] + "\n")
    assert not any(n.startswith("hint:") for n in explain([str(log)]).notes)


@pytest.mark.parametrize(
    ("line", "terminal"),
    [
        ("Exception: model weights could not be read", True),  # Python's bare Exception
        ("(EngineCore pid=1) torch.OutOfMemoryError: CUDA out of memory.", True),
        ("Error: OCI runtime error: crun: something", False),  # a CLI's message, not a raised exception
        ('    raise RuntimeError("No CUDA GPUs are available")', False),  # a traceback's source line
    ],
)
def test_what_counts_as_a_raised_exception(tmp_path: Path, line: str, terminal: bool) -> None:
    log = tmp_path / "r.log"
    log.write_text(line + "\n")
    assert ("terminal_error" in explain([str(log)]).facts) is terminal


@pytest.mark.parametrize(
    "end",
    [
        # CPython Objects/object.c: a None left behind by an earlier failure, not a version mismatch
        "AttributeError: 'NoneType' object has no attribute 'all_reduce'",
        # pydantic header of vLLM's VllmConfig: the refused value (it may be the device type) is on the next line
        "pydantic_core._pydantic_core.ValidationError: 1 validation error for VllmConfig",
    ],
)
def test_ends_that_can_follow_a_container_failure_decide_nothing(tmp_path: Path, end: str) -> None:
    assert causes(tmp_path, IBV_ENOMEM + TRACEBACK + end + "\n") == ["rdma.memlock-too-low"]


def test_a_driver_library_missing_a_symbol_is_not_a_python_import_error(tmp_path: Path) -> None:
    end = "ImportError: /usr/lib/x86_64-linux-gnu/libcuda.so.1: undefined symbol: cuGetProcAddress_v2"
    assert causes(tmp_path, IBV_ENOMEM + TRACEBACK + end + "\n") == ["rdma.memlock-too-low"]
    ext = "ImportError: /opt/venv/lib/python3.10/site-packages/flash_attn_2_cuda.so: undefined symbol: _ZN3c104cuda9SetDeviceEi"
    assert causes(tmp_path, IBV_ENOMEM + TRACEBACK + ext + "\n") == []


def test_a_bare_duplicate_gpu_is_a_launch_bug_note(tmp_path: Path) -> None:
    # NCCL init.cc compares bus ids: ranks in containers with their own GPUs never collide, so with no mask
    # and no container GPU request in the log the likelier reason is a missing set_device(local_rank)
    line = "node1:1:1 [0] NCCL WARN Duplicate GPU detected : rank 1 and rank 0 both on CUDA device 1000\n"
    assert causes(tmp_path, line) == []
    assert any("set_device(local_rank)" in n for n in notes(tmp_path, line))
    assert causes(tmp_path, "docker run --gpus 1 img torchrun --nproc-per-node 2 t.py\n" + line)
