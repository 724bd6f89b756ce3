"""Read the arrays of ``model.npz`` without ``zipfile`` when it is the plain archive ``np.savez`` writes.

``np.load`` of an ``.npz`` imports ``zipfile``, and with it ``shutil``, ``bz2``, ``lzma``,
``importlib.util`` and a code page: twelve modules and about 40 M instructions of the
prediction function's cold start (docs/performance.md), to read a handful of arrays stored
uncompressed. ``np.savez`` writes exactly that: a ZIP of ``<name>.npy`` members, method 0
(stored), no ZIP64 below 4 GiB. This reads such an archive from its central directory and
hands each member to ``numpy.lib.format.read_array`` (the reader ``np.load`` uses, with
``allow_pickle=False``); anything else (compressed members, ZIP64, a comment, a surprise) goes
to ``np.load`` itself, so the result is always what ``np.load`` would give.

Each member's CRC-32 is checked as ``zipfile`` checks it (the SHA-256 the manifest records was
checked just before, in ``bundle.io``, but this reader promises ``np.load``'s answer, errors included).
"""

from __future__ import annotations

import binascii
import io
import struct
from pathlib import Path
from typing import Any, Final

import numpy as np

_END: Final = struct.Struct("<4s4H2LH")  # end of central directory record
_CENTRAL: Final = struct.Struct("<4s6H3L5H2L")  # central directory file header
_LOCAL: Final = struct.Struct("<4s5H3L2H")  # local file header
_END_SIGNATURE: Final = b"PK\x05\x06"
_CENTRAL_SIGNATURE: Final = b"PK\x01\x02"
_LOCAL_SIGNATURE: Final = b"PK\x03\x04"
_STORED: Final = 0
_ZIP64_VERSION: Final = 45  # "version needed to extract" of a ZIP64 member, as np.savez writes them


class BadMemberError(ValueError):
    """A member's bytes do not match its CRC-32 (``zipfile`` raises ``BadZipFile`` alike)."""


class NotPlainError(ValueError):
    """The archive is not the plain stored ZIP ``np.savez`` writes: ``np.load`` reads it instead."""


def load_npz(path: Path) -> dict[str, np.ndarray[Any, Any]]:
    """The arrays of an ``.npz`` by name (``np.load(path, allow_pickle=False)`` in a dict)."""
    data = path.read_bytes()
    try:
        members = stored_members(data)
    except NotPlainError:
        with np.load(path, allow_pickle=False) as archive:
            return {name: archive[name] for name in archive.files}
    arrays: dict[str, np.ndarray[Any, Any]] = {}
    for name, start, size, crc in members:
        member = data[start : start + size]
        if binascii.crc32(member) != crc:
            raise BadMemberError(f"{path}: bad CRC-32 for member {name}.npy")
        arrays[name] = np.lib.format.read_array(io.BytesIO(member), allow_pickle=False)
    return arrays


def stored_members(data: bytes) -> list[tuple[str, int, int, int]]:
    """``(array name, data offset, size, CRC-32)`` of each ``.npy`` member of a plain stored ZIP."""
    try:
        return _stored_members(data)
    except (struct.error, UnicodeDecodeError) as error:  # truncated headers, a non-ASCII name
        raise NotPlainError(str(error)) from error


def _stored_members(data: bytes) -> list[tuple[str, int, int, int]]:
    if len(data) < _END.size or data[-_END.size : -_END.size + 4] != _END_SIGNATURE:
        raise NotPlainError("no end-of-directory record at the end (a comment, or not a ZIP)")
    _, disk, start_disk, _, entries, directory_size, directory_offset, _ = _END.unpack(data[-_END.size :])
    # The layout np.savez writes, and nothing else: the directory right before the end record
    # (zipfile would also accept data prepended to the archive; np.load then reads it).
    if disk or start_disk or directory_offset + directory_size != len(data) - _END.size:
        raise NotPlainError("not the layout np.savez writes (multi-disk, ZIP64 or prepended data)")
    members: list[tuple[str, int, int, int]] = []
    at = directory_offset
    for _ in range(entries):
        header = _CENTRAL.unpack_from(data, at)
        signature, needed, flags, method, crc = header[0], header[2], header[3], header[4], header[7]
        compressed, uncompressed, name_length = header[8], header[9], header[10]
        extra_length, comment_length, local_offset = header[11], header[12], header[16]
        raw_name = data[at + _CENTRAL.size : at + _CENTRAL.size + name_length]
        name = raw_name.decode("ascii", "strict")
        at += _CENTRAL.size + name_length + extra_length + comment_length
        # Anything np.savez does not write (flags: encryption, UTF-8 names, data descriptors;
        # a newer format version; compression) is np.load's to read or to refuse.
        if signature != _CENTRAL_SIGNATURE or flags or needed > _ZIP64_VERSION or method != _STORED:
            raise NotPlainError(f"{name}: not a plain stored member")
        if (
            compressed != uncompressed
            or not name.endswith(".npy")
            or 0xFFFFFFFF in (compressed, local_offset)
        ):
            raise NotPlainError(f"{name}: not a plain .npy member")
        local = _LOCAL.unpack_from(data, local_offset)
        name_end = local_offset + _LOCAL.size + local[9]
        if (
            local[0] != _LOCAL_SIGNATURE
            or local[2]
            or local[3] != _STORED
            or data[name_end - local[9] : name_end] != raw_name
        ):
            raise NotPlainError(f"{name}: local header does not match the directory")
        start = name_end + local[10]
        if start + compressed > directory_offset:
            raise NotPlainError(f"{name}: data runs past the directory")
        members.append((name[: -len(".npy")], start, compressed, crc))
    if at != directory_offset + directory_size:
        raise NotPlainError("the directory's size does not add up")
    return members
