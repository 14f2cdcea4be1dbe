"""Compact storage of one canvas's denoising frames for replay: delta-coded id arrays, zlib-compressed.

Layout (little-endian) before compression: header `<4sHHI` (magic, version, steps, canvas_length), then per
step `<HHf` (step, max_steps, elapsed_s) followed by canvas ids and draft ids as uint32 deltas against the
previous step (mostly zeros once a canvas settles), the accepted mask as one byte per cell and the entropy
in millinats as uint16.
"""

from __future__ import annotations

import struct
import sys
import zlib
from array import array

from engine.events import Frame

MAGIC = b"DDF1"
VERSION = 1
_HEADER = struct.Struct("<4sHHI")
_STEP = struct.Struct("<HHf")
_MASK32 = 0xFFFFFFFF


def _u32(values: list[int]) -> array:
    out = array("I", values)
    if out.itemsize != 4:  # pragma: no cover - every supported platform has a 4-byte unsigned int
        out = array("L", values)
    return out


def _le(arr: array) -> bytes:
    if sys.byteorder == "big":  # pragma: no cover
        arr = array(arr.typecode, arr)
        arr.byteswap()
    return arr.tobytes()


def _from_le(typecode: str, data: bytes) -> array:
    arr = array(typecode)
    arr.frombytes(data)
    if sys.byteorder == "big":  # pragma: no cover
        arr.byteswap()
    return arr


def encode_canvas(frames: list[Frame]) -> bytes:
    """Pack every frame of one canvas (in step order) into one compressed blob."""
    length = len(frames[0].draft) if frames else 0
    parts = [_HEADER.pack(MAGIC, VERSION, len(frames), length)]
    prev_canvas = [0] * length
    prev_draft = [0] * length
    for f in frames:
        parts.append(_STEP.pack(f.step, f.max_steps, float(f.elapsed_s)))
        parts.append(_le(_u32([(a - b) & _MASK32 for a, b in zip(f.canvas, prev_canvas)])))
        parts.append(_le(_u32([(a - b) & _MASK32 for a, b in zip(f.draft, prev_draft)])))
        parts.append(bytes(1 if a else 0 for a in f.accepted))
        parts.append(_le(array("H", [min(65535, max(0, round(e * 1000))) for e in f.entropy])))
        prev_canvas, prev_draft = list(f.canvas), list(f.draft)
    return zlib.compress(b"".join(parts), 6)


def decode_canvas(blob: bytes, canvas_index: int) -> list[Frame]:
    """Unpack a blob from `encode_canvas` back into frames (entropy rounded to 0.001)."""
    data = zlib.decompress(blob)
    magic, version, steps, length = _HEADER.unpack_from(data, 0)
    if magic != MAGIC or version != VERSION:
        raise ValueError("not a Diffusion Desk frame blob (or a newer version of one)")
    pos = _HEADER.size
    frames: list[Frame] = []
    prev_canvas = [0] * length
    prev_draft = [0] * length
    for _ in range(steps):
        step, max_steps, elapsed = _STEP.unpack_from(data, pos)
        pos += _STEP.size
        d_canvas = _from_le("I", data[pos : pos + 4 * length])
        pos += 4 * length
        d_draft = _from_le("I", data[pos : pos + 4 * length])
        pos += 4 * length
        accepted = [b == 1 for b in data[pos : pos + length]]
        pos += length
        entropy = [v / 1000 for v in _from_le("H", data[pos : pos + 2 * length])]
        pos += 2 * length
        canvas = [(a + b) & _MASK32 for a, b in zip(d_canvas, prev_canvas)]
        draft = [(a + b) & _MASK32 for a, b in zip(d_draft, prev_draft)]
        frames.append(Frame(canvas_index, step, max_steps, canvas, draft, accepted, entropy, elapsed))
        prev_canvas, prev_draft = canvas, draft
    return frames
