"""An NGC image's driver check, read against CUDA's minor-version compatibility.

NGC images run a driver check at start (nvidia_entrypoint.sh / entrypoint.d): when the host driver's
branch is below the one the image was built for and the CUDA compat check does not return "CUDA Driver
OK", they print "ERROR: This container was built for NVIDIA Driver Release ${CUDA_DRIVER_VERSION%.*} or
later, but / version ${DRIVER_VERSION} was detected and compatibility mode is UNAVAILABLE." That line is
often harmless: CUDA minor-version compatibility runs an image of CUDA major M on any driver at or above
M's floor. It is not harmless when the driver is below that floor (another CUDA major): then nothing but
forward compatibility could run the image, and the same line says it is unavailable.

Floors: NVIDIA "CUDA Compatibility" (docs.nvidia.com/deploy/cuda-compatibility), table "CUDA Toolkit and
Minimum Required Driver Version for CUDA Minor Version Compatibility": CUDA 13.x >= 580, CUDA 12.x >=
525.60.13, CUDA 11.x >= 450.80.02; CUDA 10.x and older have no minor-version compatibility (the toolkit's
own driver is the floor). The image's CUDA major is the branch of the driver it was built for (CUDA 13.0
ships 580.65.06, 12.0 ships 525.60.13, 11.0 ships 450.36.06).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tpdoctor.explain.scanner import ScanResult, SigHit

# (first driver of the CUDA major, the major, its minor-version-compatibility floor)
_MAJORS = (((580, 0), 13, (580, 0)), ((525, 0), 12, (525, 60)), ((450, 0), 11, (450, 80)))


@dataclass(frozen=True)
class Floor:
    built_for: str
    detected: str
    floor: str
    cuda_major: int | None
    hits: list[SigHit]
    first_line: int

    def why(self) -> str:
        major = f"CUDA {self.cuda_major}" if self.cuda_major else "a CUDA release before 11"
        return (
            f"The image was built for driver {self.built_for} ({major}) and the host has {self.detected}: below "
            f"{self.floor}, the lowest driver that runs {major} through minor-version compatibility, and the image "
            "says forward compatibility is unavailable. The host driver must be upgraded (or an image for the "
            "host's CUDA version used)."
        )


def _version(text: str) -> tuple[int, int] | None:
    # "410" is a branch alone: the 18.xx/19.xx entrypoints' ${CUDA_DRIVER_VERSION%.*} of a two-field "410.48"
    parts = text.split(".")
    if len(parts) == 1 and parts[0].isdigit():
        return int(parts[0]), 0
    if len(parts) < 2 or not (parts[0].isdigit() and parts[1].isdigit()):
        return None
    return int(parts[0]), int(parts[1])


def below_floor(scan: ScanResult) -> Floor | None:
    """The NGC check's two versions, when the detected driver cannot run the image's CUDA major at all."""
    built_hit = scan.facts.first.get("ngc_built_for_driver")
    seen_hit = scan.facts.first.get("ngc_detected_driver")
    if built_hit is None or seen_hit is None:
        return None
    built, seen = _version(built_hit[0]), _version(seen_hit[0])
    if built is None or seen is None:
        return None
    major, floor = None, built
    for first, cuda_major, minor_floor in _MAJORS:
        if built >= first:
            major, floor = cuda_major, minor_floor
            break
    if seen >= floor:
        return None
    hits = sorted(
        [
            SigHit(built_hit[1], f"built for {built_hit[0]}", built_hit[2], {}),
            SigHit(seen_hit[1], f"detected {seen_hit[0]}", seen_hit[2], {}),
        ],
        key=lambda h: (h.source, h.line),
    )
    return Floor(built_hit[0], seen_hit[0], f"{floor[0]}.{floor[1]:02d}", major, hits, hits[0].line)


# glearn9: cudaErrorInsufficientDriver (35) means either no libcuda in the process (a container started without
# a GPU: measured on an H200, docs/gpu-h200.md) or a driver older than the image's CUDA runtime. When the log
# also shows nvidia-smi's banner ("Driver Version: 367.57") with a driver below CUDA 11's minor-version floor
# (450.80.02, the table above), no CUDA 11+ image runs on it at all: the old driver is the likelier reading.
_CUDA11_FLOOR = (450, 80)
# glearn39a: the same table's CUDA 12 row (>= 525.60.13). CUDA 12 is what current wheels and images ship (torch's
# default cu12x wheels, CTranslate2 4.x: "version 4.* is compatible only with CUDA 12", OpenNMT/CTranslate2#1842), so
# a driver below it next to cudaErrorInsufficientDriver is read as too old, unless the log names a CUDA 11 (or older)
# runtime or image, which that driver runs through minor-version compatibility.
_CUDA12_FLOOR = (525, 60)


@dataclass(frozen=True)
class SmiDriver:
    version: str
    hit: SigHit
    driver_cuda: str = ""  # nvidia-smi's "CUDA Version", when the reading is a CUDA major above it
    built_cuda: str = ""
    below_cuda12: bool = False  # glearn39a: at or above CUDA 11's floor, below CUDA 12's
    package: str = ""  # glearn40a: a CUDA 12 build of a package the log names (ctranslate2 4.x)

    def why(self) -> str:
        if self.package:
            return (
                f"CUDA reports the driver insufficient: the log names {self.package}, a CUDA 12 build whatever the base "
                f"image's CUDA, and nvidia-smi shows driver {self.version}, below 525.60.13, the oldest driver that runs "
                "CUDA 12 (minor-version compatibility). Upgrade the host driver, or pin a build for the driver's CUDA "
                "(ctranslate2 3.24 is the last CUDA 11 release)."
            )
        if self.built_cuda:
            return (
                f"CUDA reports the driver insufficient: the program was built for CUDA {self.built_cuda} and nvidia-smi "
                f"shows driver {self.version}, which runs CUDA up to {self.driver_cuda}. Minor-version compatibility "
                "never crosses a CUDA major: upgrade the host driver, or use an image built for the driver's CUDA major."
            )
        if self.below_cuda12:
            return (
                f"CUDA reports the driver insufficient and nvidia-smi shows driver {self.version}: below 525.60.13, the "
                "oldest driver that runs a CUDA 12 runtime (CUDA minor-version compatibility), which current wheels and "
                "images ship. Upgrade the host driver, or use a build for the driver's CUDA (nvidia-smi's 'CUDA Version'). "
                "If nvidia-smi ran on the host and the failing program in a container, check the container got the GPU."
            )
        return (
            f"CUDA reports the driver insufficient and nvidia-smi shows driver {self.version}: below 450.80.02, the "
            "oldest driver that runs any CUDA 11 or later image (CUDA minor-version compatibility). Upgrade the host "
            "driver, or use an image built for a CUDA release that driver supports."
        )


# the CUDA runtime a log names (torch's build, an image's, conda's cudatoolkit): three facts of one meaning, in order
_RUNTIME_CUDA_KEYS = ("runtime_cuda_version", "runtime_cuda_version2", "runtime_cuda_version3")


def _runtime_cuda(scan: ScanResult) -> tuple[str, int, str] | None:
    """The first of the _RUNTIME_CUDA_KEYS facts the log holds: (value, line, source)."""
    return next((scan.facts.first[k] for k in _RUNTIME_CUDA_KEYS if k in scan.facts.first), None)


def smi_driver_too_old(scan: ScanResult) -> SmiDriver | None:
    """nvidia-smi's driver version, when it is too old for any CUDA 11+ runtime, or its "CUDA Version" (the
    newest CUDA the driver runs) is of an older major than the CUDA the process was built for: minor-version
    compatibility never crosses a major (CUDA Compatibility guide)."""
    seen = scan.facts.first.get("smi_driver_version")
    if seen is None:
        return None
    version = _version(seen[0])
    hit = SigHit(seen[1], f"nvidia-smi driver {seen[0]}", seen[2], {})
    if version is not None and version < _CUDA11_FLOOR:
        return SmiDriver(seen[0], hit)
    # glearn40a: a package built for CUDA 12 decides over the base image's tag (faster-whisper#734: ctranslate2 4.0.0
    # in nvidia/cuda:11.6.2 on driver 510)
    package = scan.facts.first.get("cuda12_package")
    if package is not None and version is not None and version < _CUDA12_FLOOR:
        return SmiDriver(seen[0], hit, package=package[0])
    driver_cuda = scan.facts.first.get("smi_cuda_version")
    built = _runtime_cuda(scan)
    if built is None and version is not None and version < _CUDA12_FLOOR:
        image = scan.facts.first.get("image_cuda_major")
        if image is None or not image[0].isdigit() or int(image[0]) >= 12:
            return SmiDriver(seen[0], hit, below_cuda12=True)
    if driver_cuda is None or built is None:
        return None
    driver_major, built_major = _version(driver_cuda[0]), _version(built[0])
    if driver_major is None or built_major is None or built_major[0] <= driver_major[0]:
        return None
    return SmiDriver(seen[0], hit, driver_cuda=driver_cuda[0], built_cuda=built[0])


# glearn21b: an NGC image's release (nvcr.io/nvidia/<framework>:YY.MM-...) names the driver branch its CUDA needs. The
# release notes' "Driver Requirements" say "Release 21.10 is based on NVIDIA CUDA 11.4.2 ..., which requires NVIDIA
# Driver release 470 or later" (NVIDIA Deep Learning Frameworks release notes, e.g. kaldi-release-notes/rel_21-10,
# pytorch-release-notes/rel-23-07, and the Frameworks Support Matrix). The prose itself, quoted beside a host driver,
# is read first; the tag table below is the same statement for each release. Releases before 20.01 are left out.
_NGC_RELEASE_DRIVER = (
    ((20, 1), 440), ((20, 6), 450), ((20, 10), 455), ((21, 1), 460), ((21, 4), 465), ((21, 7), 470),
    ((21, 11), 495), ((22, 1), 510), ((22, 5), 515), ((22, 9), 520), ((23, 1), 525), ((23, 3), 530),
    ((23, 8), 535), ((23, 11), 545), ((24, 3), 550), ((24, 6), 555), ((24, 8), 560), ((25, 1), 570),
    ((25, 4), 575), ((25, 8), 580),
)


def _release_driver(release: str) -> int | None:
    parts = release.split(".")
    if len(parts) != 2 or not all(p.isdigit() for p in parts):
        return None
    key = (int(parts[0]), int(parts[1]))
    found = None
    for first, branch in _NGC_RELEASE_DRIVER:
        if key >= first:
            found = branch
    return found


@dataclass(frozen=True)
class ReleaseDriver:
    required: int
    detected: str
    how: str  # "the release notes' statement" or "release YY.MM"
    hits: list[SigHit]

    def why(self) -> str:
        return (
            f"The host driver is {self.detected} and the image needs driver release {self.required} or later "
            f"({self.how}); CUDA in the container then finds no usable GPU or calls the driver insufficient. Upgrade "
            "the host driver, or use an image release built for the host's CUDA version."
        )


def release_driver_too_old(scan: ScanResult) -> ReleaseDriver | None:
    """The host driver (nvidia-smi's, or the NGC check's detected one) below the branch an NGC release requires:
    the release notes' prose "requires NVIDIA Driver release N or later", else the image tag's YY.MM."""
    seen = scan.facts.first.get("smi_driver_version") or scan.facts.first.get("ngc_detected_driver")
    if seen is None:
        return None
    version = _version(seen[0])
    if version is None:
        return None
    prose = scan.facts.first.get("ngc_requires_driver")
    built = scan.facts.first.get("ngc_built_for_driver")
    tag = scan.facts.first.get("ngc_image_release")
    built_version = _version(built[0]) if built is not None else None
    required, how, hit = None, "", None
    if prose is not None and prose[0].isdigit():
        required, how, hit = int(prose[0]), "the release notes' driver requirement", prose
    elif built is not None and built_version is not None:
        required, how, hit = built_version[0], "the image's own driver check", built
    elif tag is not None:
        required = _release_driver(tag[0])
        how, hit = f"NGC release {tag[0]}, per its release notes", tag
    if required is None or hit is None or version[0] >= required:
        return None
    hits = sorted(
        [SigHit(seen[1], f"driver {seen[0]}", seen[2], {}), SigHit(hit[1], f"requires {required}", hit[2], {})],
        key=lambda h: (h.source, h.line),
    )
    return ReleaseDriver(required, seen[0], how, hits)


def _driver_and_image_cuda(scan: ScanResult) -> tuple[str, int, str, SigHit] | None:
    """(nvidia-smi's "CUDA Version", its major, the image tag's CUDA major, the tag's hit), when the log shows both."""
    driver_cuda = scan.facts.first.get("smi_cuda_version")
    image = scan.facts.first.get("image_cuda_major")
    if driver_cuda is None or image is None:
        return None
    driver = _version(driver_cuda[0])
    if driver is None or not image[0].isdigit():
        return None
    return driver_cuda[0], driver[0], image[0], SigHit(image[1], f"image CUDA {image[0]}", image[2], {})


def driver_covers_image(scan: ScanResult) -> tuple[str, str] | None:
    """(nvidia-smi's "CUDA Version", the image tag's CUDA major) when the driver runs that major: cudaErrorInsufficientDriver
    then cannot mean the host driver is too old for the image (CUDA minor-version compatibility within a major)."""
    both = _driver_and_image_cuda(scan)
    if both is None or both[1] < int(both[2]):
        return None
    return both[0], both[2]


def image_above_driver(scan: ScanResult) -> tuple[str, str, SigHit] | None:
    """(nvidia-smi's "CUDA Version", the image tag's CUDA major, the tag's hit) when the tag names a newer CUDA major
    than the driver runs: minor-version compatibility never crosses a major."""
    both = _driver_and_image_cuda(scan)
    if both is None or both[1] >= int(both[2]):
        return None
    return both[0], both[2], both[3]


# glearn28b: Jetson. The CUDA driver of a Jetson is the host's L4T release (the toolkit mounts it in csv mode), and an
# image's CUDA user space is built for one L4T release (dusty-nv/jetson-containers jetson_containers/l4t_version.py:
# l4t_version_from_tag reads "r35.2.1" from the tag; l4t_version_compatible lets a host run only its own major's
# images, JetPack 4.6.1+ those of 32.7+). An image of a newer L4T major than the host (r34/r35/r36 on r32) brings a
# CUDA newer than the host driver: CUDA fails at start-up (error 3 or 35; dusty-nv/jetson-containers#149 "the
# r34.1.0 containers only run (with CUDA) on r34.1.0 and newer"). JetPack majors map to L4T (get_jetpack_version):
# 4 -> 32, 5 -> 35 (5.0 was 34: the later one, so an r35 image on "JetPack 5" is not called too new), 6 -> 36.
_JETPACK_L4T = {"4": 32, "5": 35, "6": 36}


def l4t_image_above_host(scan: ScanResult) -> tuple[str, int, list[SigHit]] | None:
    """The newest L4T release an image tag names and the oldest host L4T major the log shows, when the image's major is
    newer: (image release, host major, the two lines)."""
    values = scan.facts.values
    images = values.get("l4t_image_release", [])
    # (host L4T major, the fact that shows it, its value): an L4T release itself before a JetPack major naming the same
    hosts = [(int(v), 0, "l4t_host_release", v) for v in values.get("l4t_host_release", []) if v.isdigit()]
    hosts += [(_JETPACK_L4T[v], 1, "jetpack_host_major", v) for v in values.get("jetpack_host_major", []) if v in _JETPACK_L4T]
    if not images or not hosts:
        return None
    newest = max(images, key=lambda v: int(v.split(".")[0]))
    host, _rank, host_key, host_value = min(hosts, key=lambda h: h[:2])
    if int(newest.split(".")[0]) <= host:
        return None
    image_where = scan.facts.where.get(("l4t_image_release", newest))
    host_where = scan.facts.where.get((host_key, host_value))
    hits = [
        SigHit(line, text, src, {})
        for where, text in ((image_where, f"image L4T r{newest}"), (host_where, f"host L4T R{host}"))
        if where is not None
        for line, src in [where]
    ]
    return newest, host, sorted(hits, key=lambda h: (h.source, h.line))


# glearn46a: the first CUDA release that builds for a compute capability (NVIDIA CUDA Toolkit release notes / the CUDA
# C++ Programming Guide's compute-capability table): Blackwell 10.x/12.x needs 12.8, Hopper 9.0 and Ada 8.9 need 11.8,
# Ampere 8.6 needs 11.1 (8.0: 11.0, Orin 8.7: 11.4), Turing 7.5 needs 10.0.
_CC_FIRST_CUDA = ((12, (12, 8)), (10, (12, 8)), (9, (11, 8)))
_CC_MINOR_FIRST_CUDA = {(8, 9): (11, 8), (8, 7): (11, 4), (8, 6): (11, 1), (8, 0): (11, 0), (7, 5): (10, 0)}


def _cc_first_cuda(cc: tuple[int, int]) -> tuple[int, int] | None:
    for major, first in _CC_FIRST_CUDA:
        if cc[0] >= major:
            return first
    return _CC_MINOR_FIRST_CUDA.get(cc)


def _driver_runs(driver: tuple[int, int], cuda: tuple[int, int]) -> bool:
    """The driver branch runs every runtime of the CUDA major through minor-version compatibility (_MAJORS floors)."""
    return any(cuda[0] == major and driver >= floor for _first, major, floor in _MAJORS)


def image_older_than_gpu(scan: ScanResult) -> tuple[str, str, str, str] | None:
    """(the driver, the runtime's CUDA, the GPU's compute capability, the first CUDA for it) when the log names a driver
    that runs the runtime's CUDA major and a GPU whose architecture that CUDA predates (an RTX 50 series, compute
    capability 12.0, under a nvidia/cuda:12.2 image: immich-app/immich#28031). CUDA's "driver insufficient" then does
    not mean the driver is old: the image's CUDA does not know the GPU, and the fix is an image on a newer CUDA."""
    drivers = [
        v for key in ("smi_driver_version", "stated_driver_version") for v in scan.facts.values.get(key, [])
    ]
    runtimes = [
        v for key in _RUNTIME_CUDA_KEYS
        for v in scan.facts.values.get(key, [])
    ]
    ccs = scan.facts.values.get("gpu_compute_capability", [])
    parsed_d = [d for d in (_version(v) for v in drivers) if d is not None]
    parsed_r = [r for r in (_version(v) for v in runtimes) if r is not None]
    parsed_c = [c for c in (_version(v) for v in ccs) if c is not None]
    if not parsed_d or not parsed_r or not parsed_c:
        return None
    driver, runtime, cc = min(parsed_d), max(parsed_r), max(parsed_c)
    first = _cc_first_cuda(cc)
    if first is None or runtime >= first or not _driver_runs(driver, runtime):
        return None
    return (
        drivers[parsed_d.index(driver)] if len(parsed_d) == len(drivers) else f"{driver[0]}.{driver[1]}",
        f"{runtime[0]}.{runtime[1]}", f"{cc[0]}.{cc[1]}", f"{first[0]}.{first[1]}",
    )


# glearn50a: the newest CUDA a driver runs (CUDA Toolkit release notes, "CUDA Toolkit and Corresponding Driver
# Versions", Linux x86_64: 8.0 GA2 >= 375.26, 9.0.76 >= 384.81, 9.1.85 >= 390.46, 9.2.88 >= 396.26, 10.0.130 >= 410.48,
# 10.1.105 >= 418.39, 10.2.89 >= 440.33, 11.0.2 GA >= 450.51.05); from CUDA 11 on, minor-version compatibility runs
# every minor of the driver's CUDA major at or above the floors of _MAJORS (99: any minor), so only the major counts
# there. review53: 9.1 and 11.0 had the lenient values (387.26, printed for 9.1.85 before NVIDIA raised it; 450.36.06,
# the 11.0.1 RC's), so a driver between them was taken to run a CUDA it does not.
_DRIVER_CUDA = (
    ((580, 0), (13, 99)), ((525, 60), (12, 99)), ((450, 80), (11, 99)), ((450, 51), (11, 0)), ((440, 33), (10, 2)),
    ((418, 39), (10, 1)), ((410, 48), (10, 0)), ((396, 26), (9, 2)), ((390, 46), (9, 1)), ((384, 81), (9, 0)),
    ((375, 26), (8, 0)),
)


def _driver_cuda(driver: tuple[int, int]) -> tuple[int, int] | None:
    return next((cuda for first, cuda in _DRIVER_CUDA if driver >= first), None)


@dataclass(frozen=True)
class ToolkitAbove:
    built: str
    driver: str  # "driver 418.67 (CUDA 10.1)"
    hits: list[SigHit]
    first_line: int

    def why(self) -> str:
        return (
            f"The log installs or runs CUDA {self.built} and the host's {self.driver} runs no CUDA that new: CUDA before "
            "11 needs the driver of its own release, and minor-version compatibility never crosses a CUDA major. "
            "Install the build for the driver's CUDA (conda's cudatoolkit, the torch wheel, the image tag) or upgrade "
            "the host driver."
        )


def toolkit_above_driver(scan: ScanResult) -> ToolkitAbove | None:
    """The CUDA runtime the log installs or builds with (conda's cudatoolkit, torch's build CUDA, an nvidia/cuda tag),
    when the driver the log shows (nvidia-smi's "CUDA Version" or driver, a driver stated in prose) cannot run it."""
    if "cuda_forward_compat_on" in scan.facts.first:
        return None  # the entrypoint saw the image's compat libcuda initialise: the newer CUDA runs (review52)
    built_hit = _runtime_cuda(scan)
    if built_hit is None or (built := _version(built_hit[0])) is None:
        return None
    driver_hit, runs, said = None, None, ""
    smi_cuda = scan.facts.first.get("smi_cuda_version")
    if smi_cuda is not None and (v := _version(smi_cuda[0])) is not None:
        driver_hit, runs, said = smi_cuda, (v if v[0] < 11 else (v[0], 99)), f"driver (nvidia-smi CUDA Version {smi_cuda[0]})"
    else:
        for key in ("smi_driver_version", "stated_driver_version", "stated_driver_branch"):
            hit = scan.facts.first.get(key)
            v = _version(hit[0]) if hit is not None else None
            if v is not None and key == "stated_driver_branch":
                v = (v[0], 99)  # a branch alone ("drivers 396"): its newest release
            if hit is not None and v is not None and (cuda := _driver_cuda(v)) is not None:
                top = f"{cuda[0]}.x" if cuda[1] == 99 else f"{cuda[0]}.{cuda[1]}"
                driver_hit, runs, said = hit, cuda, f"driver {hit[0]} (CUDA up to {top})"
                break
    if driver_hit is None or runs is None:
        return None
    if (built[0] <= runs[0]) if built[0] >= 11 else (built <= runs):
        return None
    hits = sorted(
        [
            SigHit(built_hit[1], f"CUDA {built_hit[0]}", built_hit[2], {}),
            SigHit(driver_hit[1], said, driver_hit[2], {}),
        ],
        key=lambda h: (h.source, h.line),
    )
    return ToolkitAbove(built_hit[0], said, hits, hits[0].line)


# glearn50a: the driver branch each CUDA release ships (CUDA Toolkit release notes, "CUDA Toolkit and Corresponding
# Driver Versions", Linux GA); an image's cuda-compat package (/usr/local/cuda/compat, forward compatibility) carries the
# libcuda of that branch. review53: 13.1 and 13.2 added (the cuda-compat-13-1 and cuda-compat-13-2 packages carry the
# R590 and R595 libcuda: 590.44.01, 595.x); later 13.x releases are not here, so their compat libcuda is not recognised.
_CUDA_BRANCH = {
    (11, 0): 450, (11, 1): 455, (11, 2): 460, (11, 3): 465, (11, 4): 470, (11, 5): 495, (11, 6): 510, (11, 7): 515,
    (11, 8): 520, (12, 0): 525, (12, 1): 530, (12, 2): 535, (12, 3): 545, (12, 4): 550, (12, 5): 555, (12, 6): 560,
    (12, 8): 570, (12, 9): 575, (13, 0): 580, (13, 1): 590, (13, 2): 595,
}
_KERNEL_DSO = re.compile(r"kernel version (?P<kernel>\d{3})\b[\d.]* does not match DSO version (?P<dso>\d{3})\b")


def image_compat_libcuda(scan: ScanResult) -> tuple[str, str, str] | None:
    """TensorFlow/XLA's "kernel version K does not match DSO version D" where D is the driver branch of the CUDA the
    image names (an nvidia/cuda tag, torch's build CUDA, conda's cudatoolkit) and newer than the kernel module: the
    libcuda loaded is the image's forward-compat one over an older host driver, not a host upgraded without a reboot
    (NVIDIA/nvidia-docker#1704: nvidia/cuda:11.7.1 on a K80 with driver 470). (kernel, dso, CUDA) or None."""
    rec = scan.signatures.get("tf.kernel-dso-version-mismatch")
    if rec is None:
        return None
    for hit in rec.evidence:
        m = _KERNEL_DSO.search(hit.text)
        if m is None or int(m["dso"]) <= int(m["kernel"]):
            continue
        for key in ("runtime_cuda_version2", "runtime_cuda_version", "runtime_cuda_version3"):
            for value in scan.facts.values.get(key, []):
                v = _version(value)
                if v is not None and _CUDA_BRANCH.get(v) == int(m["dso"]):
                    return m["kernel"], m["dso"], value
    return _compat_beside_host_driver(scan, list(rec.evidence))


# glearn54c: the same mismatch where nvidia-smi's "Driver Version" (the banner, `nvidia-smi -q`, or the field pasted in
# a report) is the kernel module's own release. nvidia-smi prints a driver version only after NVML initialised, which
# needs the host's libnvidia-ml to match the kernel module (a host upgraded without a reboot prints "Failed to
# initialize NVML: Driver/library version mismatch" instead): the host's user-space driver is the kernel's, so the newer
# libcuda that was loaded is not the host's but one the image ships; a DSO on a CUDA release's driver branch is the
# image's cuda-compat libcuda (google-deepmind/alphafold3#352: L40-24Q, driver 535.183.06, DSO 560.28.3 = CUDA 12.6's).
# The line: openxla/xla xla/stream_executor/cuda/cuda_diagnostics.cc Diagnostician::WarnOnDsoKernelMismatch (LOG(ERROR)
# "kernel version " << DriverVersionStatusToString(kernel) << " does not match DSO version " ..., the fields as integers);
# TensorFlow's stream_executor copy before XLA moved out (port::StatusOr, same text).
_KERNEL_DSO_FULL = re.compile(
    r"kernel version (?P<kernel>\d{3}(?:\.\d{1,3}){1,2}) does not match DSO version (?P<dso>\d{3})(?:\.\d{1,3}){1,2}\b"
)
_SMI_DRIVER_KEYS = ("smi_driver_version", "linux_smi_driver_three_part")


def _release(text: str) -> tuple[int, ...] | None:
    # XLA prints a release's fields as integers (535.183.6 for 535.183.06, 550.120.0 for 550.120): compare numbers
    parts = text.split(".")
    if not 2 <= len(parts) <= 3 or not all(p.isdigit() for p in parts):
        return None
    return tuple(int(p) for p in parts) + (0,) * (3 - len(parts))


def _compat_beside_host_driver(scan: ScanResult, evidence: list[SigHit]) -> tuple[str, str, str] | None:
    branches = {b: c for c, b in _CUDA_BRANCH.items()}
    host = {r for key in _SMI_DRIVER_KEYS for v in scan.facts.values.get(key, []) if (r := _release(v)) is not None}
    if not host:
        return None
    for hit in evidence:
        m = _KERNEL_DSO_FULL.search(hit.text)
        if m is None or (cuda := branches.get(int(m["dso"]))) is None:
            continue
        kernel = _release(m["kernel"])
        if kernel is not None and int(m["dso"]) > kernel[0] and kernel in host:
            return m["kernel"], m["dso"], f"{cuda[0]}.{cuda[1]}"
    return None
