"""A small pure-Python reader of an ELF shared object's dynamic section.

Only what the loader needs to pick a library: DT_NEEDED, DT_SONAME, DT_RPATH and DT_RUNPATH
(System V ABI, "Dynamic Section"; glibc elf/dl-load.c searches DT_RPATH — when there is no
DT_RUNPATH — then LD_LIBRARY_PATH, then DT_RUNPATH, then ld.so.cache and the default dirs).
It seeks to the program headers, the PT_DYNAMIC segment and the string table it points at,
so a 170 MB libccl.so costs a few small reads, never a full read.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import BinaryIO

PT_LOAD, PT_DYNAMIC = 1, 2
DT_NULL, DT_NEEDED, DT_STRTAB, DT_STRSZ, DT_SONAME, DT_RPATH, DT_RUNPATH = 0, 1, 5, 10, 14, 15, 29
MAX_PHDRS = 512
MAX_DYN = 4096
MAX_STRING = 4096


class ElfError(ValueError):
    """Not an ELF file, or one whose headers point outside the file."""


@dataclass
class DynamicInfo:
    """An ELF object's dynamic section: DT_NEEDED, DT_SONAME, DT_RPATH, DT_RUNPATH."""

    needed: list[str] = field(default_factory=list)
    soname: str | None = None
    rpath: list[str] = field(default_factory=list)
    runpath: list[str] = field(default_factory=list)


def _read(f: BinaryIO, offset: int, size: int) -> bytes:
    f.seek(offset)
    data = f.read(size)
    if len(data) != size:
        raise ElfError(f"truncated at offset {offset}")
    return data


def _cstring(f: BinaryIO, offset: int) -> str:
    f.seek(offset)
    raw = f.read(MAX_STRING)
    end = raw.find(b"\0")
    return (raw if end < 0 else raw[:end]).decode("utf-8", errors="replace")


def _ident(f: BinaryIO) -> tuple[bool, str]:
    """(64-bit, struct byte-order prefix) from the ELF identification bytes; ElfError when not ELF."""
    ident = _read(f, 0, 16)
    if ident[:4] != b"\x7fELF":
        raise ElfError("not an ELF file")
    return ident[4] == 2, "<" if ident[5] == 1 else ">"


def read_dynamic(f: BinaryIO) -> DynamicInfo:
    is64, end = _ident(f)
    if is64:
        phoff, phentsize, phnum = struct.unpack(end + "32xQ14xHH", _read(f, 0, 58))
        ph_fmt, dyn_fmt = end + "IIQQQQQQ", end + "qQ"
    else:
        phoff, phentsize, phnum = struct.unpack(end + "28xI10xHH", _read(f, 0, 46))
        ph_fmt, dyn_fmt = end + "IIIIIIII", end + "iI"
    if phnum > MAX_PHDRS or phentsize < struct.calcsize(ph_fmt):
        raise ElfError("implausible program header table")
    loads: list[tuple[int, int, int]] = []  # (vaddr, offset, filesz)
    dynamic: tuple[int, int] | None = None
    for i in range(phnum):
        raw = _read(f, phoff + i * phentsize, struct.calcsize(ph_fmt))
        fields = struct.unpack(ph_fmt, raw)
        if is64:
            p_type, _flags, p_offset, p_vaddr, _paddr, p_filesz = fields[:6]
        else:
            p_type, p_offset, p_vaddr, _paddr, p_filesz = fields[:5]
        if p_type == PT_LOAD:
            loads.append((p_vaddr, p_offset, p_filesz))
        elif p_type == PT_DYNAMIC:
            dynamic = (p_offset, p_filesz)
    info = DynamicInfo()
    if dynamic is None:
        return info  # a static executable or an object without dynamic linking
    entsize = struct.calcsize(dyn_fmt)
    count = min(dynamic[1] // entsize, MAX_DYN)
    table = _read(f, dynamic[0], count * entsize)
    entries: list[tuple[int, int]] = []
    for i in range(count):
        tag, val = struct.unpack_from(dyn_fmt, table, i * entsize)
        if tag == DT_NULL:
            break
        entries.append((tag, val))
    strtab_vaddr = next((v for t, v in entries if t == DT_STRTAB), None)
    if strtab_vaddr is None:
        return info
    strtab = _vaddr_to_offset(loads, strtab_vaddr)
    for tag, val in entries:
        if tag not in (DT_NEEDED, DT_SONAME, DT_RPATH, DT_RUNPATH):
            continue
        text = _cstring(f, strtab + val)
        if tag == DT_NEEDED:
            info.needed.append(text)
        elif tag == DT_SONAME:
            info.soname = text
        elif tag == DT_RPATH:
            info.rpath = [p for p in text.split(":") if p]
        else:
            info.runpath = [p for p in text.split(":") if p]
    return info


def _vaddr_to_offset(loads: list[tuple[int, int, int]], vaddr: int) -> int:
    for start, offset, size in loads:
        if start <= vaddr < start + size:
            return offset + (vaddr - start)
    raise ElfError(f"address {vaddr:#x} is in no PT_LOAD segment")


# --- Go build info ------------------------------------------------------------------------------------------------
# A Go binary (containerd, dockerd, runc) names its main package in the .go.buildinfo section: the magic
# "\xff Go buildinf:", a pointer size and a flags byte; with flag 2 (Go 1.18+) two varint-prefixed strings follow at
# offset 32, the Go version and the module info, whose "path\t<main package>" line holds the package's import path
# (go/src/debug/buildinfo/buildinfo.go readRawBuildInfo; runtime/debug/mod.go ParseBuildInfo). Debian's GOPATH builds
# carry the path line without a "mod" line, so the path is what is read.
GO_BUILDINFO_MAGIC = b"\xff Go buildinf:"
MAX_SECTIONS = 4096
MAX_BUILDINFO = 64 * 1024


def _uvarint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    for i in range(pos, min(pos + 10, len(data))):
        value |= (data[i] & 0x7F) << shift
        shift += 7
        if data[i] < 0x80:
            return value, i + 1
    raise ElfError("bad varint in Go build info")


def read_go_main_path(f: BinaryIO) -> str | None:
    """The main package's import path from a Go binary's build info; None when it has none (not Go, Go < 1.18)."""
    is64, end = _ident(f)
    if is64:
        shoff, shentsize, shnum, shstrndx = struct.unpack(end + "40xQ10xHHH", _read(f, 0, 64))
        sh_fmt = end + "IIQQQQ"  # name, type, flags, addr, offset, size
    else:
        shoff, shentsize, shnum, shstrndx = struct.unpack(end + "32xI10xHHH", _read(f, 0, 52))
        sh_fmt = end + "IIIIII"
    if not shnum or shnum > MAX_SECTIONS or shstrndx >= shnum or shentsize < struct.calcsize(sh_fmt):
        return None
    sections = [struct.unpack(sh_fmt, _read(f, shoff + i * shentsize, struct.calcsize(sh_fmt))) for i in range(shnum)]
    names_off, names_size = sections[shstrndx][4], min(sections[shstrndx][5], 1 << 20)
    names = _read(f, names_off, names_size)
    for name, _type, _flags, _addr, offset, size in sections:
        if names[name:name + 14] != b".go.buildinfo\0":
            continue
        f.seek(offset)
        data = f.read(min(size, MAX_BUILDINFO))
        if data[:14] != GO_BUILDINFO_MAGIC or len(data) < 33 or not data[15] & 2:
            return None  # Go before 1.18 keeps pointers here, not strings: not read
        vlen, pos = _uvarint(data, 32)
        mlen, pos = _uvarint(data, pos + vlen)
        raw = data[pos:pos + mlen]
        if len(raw) >= 33 and raw[-17:-16] == b"\n":
            raw = raw[16:-16]  # the 16-byte sentinels around the text (runtime/debug/mod.go)
        for line in raw.decode("utf-8", errors="replace").split("\n"):
            key, _, value = line.partition("\t")
            if key == "path":
                return value.strip() or None
        return None
    return None
