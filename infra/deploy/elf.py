"""The symbol versions a shared object needs from its libraries, read from its ELF .gnu.version_r section.

`objdump -T` shows the same; reading the section here keeps the deploy check free of binutils. Only
what the check needs is parsed: the section headers, the version-needs entries and their names.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ELF_MAGIC = b"\x7fELF"
SHT_GNU_VERNEED = 0x6FFFFFFE
_GLIBC = re.compile(r"^GLIBC_(\d+)\.(\d+)(?:\.(\d+))?$")


class ElfError(ValueError):
    """The file is not an ELF object this parser understands."""


@dataclass(frozen=True)
class VersionNeed:
    library: str  # e.g. libc.so.6
    version: str  # e.g. GLIBC_2.17


def is_elf(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            return handle.read(4) == ELF_MAGIC
    except OSError:
        return False


def version_needs(path: Path) -> list[VersionNeed]:
    """Every (library, version) the object's dynamic symbols are bound to."""
    data = path.read_bytes()
    if data[:4] != ELF_MAGIC:
        raise ElfError(f"{path}: not an ELF file")
    bits, endian = data[4], data[5]
    if bits not in (1, 2) or endian not in (1, 2):
        raise ElfError(f"{path}: unknown ELF class {bits} or data encoding {endian}")
    order = "<" if endian == 1 else ">"
    if bits == 2:
        (shoff,) = struct.unpack_from(order + "Q", data, 0x28)
        shentsize, shnum = struct.unpack_from(order + "HH", data, 0x3A)
        header = order + "IIQQQQIIQQ"
    else:
        (shoff,) = struct.unpack_from(order + "I", data, 0x20)
        shentsize, shnum = struct.unpack_from(order + "HH", data, 0x2E)
        header = order + "IIIIIIIIII"
    sections = [struct.unpack_from(header, data, shoff + i * shentsize) for i in range(shnum)]
    needs: list[VersionNeed] = []
    for _name, kind, _flags, _addr, offset, _size, link, info, _align, _entsize in sections:
        if kind != SHT_GNU_VERNEED:
            continue
        strings_offset = sections[link][4]
        needs.extend(_walk_verneed(data, order, offset, info, strings_offset))
    return needs


def _walk_verneed(data: bytes, order: str, offset: int, count: int, strings: int) -> Iterator[VersionNeed]:
    # Elf_Verneed: vn_version(H) vn_cnt(H) vn_file(I) vn_aux(I) vn_next(I)
    # Elf_Vernaux: vna_hash(I) vna_flags(H) vna_other(H) vna_name(I) vna_next(I)
    entry = offset
    for _ in range(count):
        _version, aux_count, file_name, aux, following = struct.unpack_from(order + "HHIII", data, entry)
        library = _string(data, strings + file_name)
        at = entry + aux
        for _ in range(aux_count):
            _hash, _flags, _other, name, next_aux = struct.unpack_from(order + "IHHII", data, at)
            yield VersionNeed(library, _string(data, strings + name))
            if not next_aux:
                break
            at += next_aux
        if not following:
            break
        entry += following


def _string(data: bytes, offset: int) -> str:
    end = data.index(b"\x00", offset)
    return data[offset:end].decode("ascii", errors="replace")


def glibc_version(version: str) -> tuple[int, ...] | None:
    """(2, 27) for GLIBC_2.27; None for any other version name (GLIBCXX_, CXXABI_, GCC_, ...)."""
    found = _GLIBC.match(version)
    if found is None:
        return None
    return tuple(int(part) for part in found.groups() if part is not None)


def max_glibc(path: Path) -> tuple[int, ...] | None:
    """The newest GLIBC_ version the object needs, or None if it needs none."""
    versions = [v for v in (glibc_version(n.version) for n in version_needs(path)) if v is not None]
    return max(versions, default=None)
