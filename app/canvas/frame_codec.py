"""Compact storage of one canvas's denoising frames for replay: delta-coded id arrays, zlib-compressed.

Layout (little-endian) before compression: header `<4sHHI` (magic, version, steps, canvas_length); version 2
adds `<BHf` (has a step-0 canvas, its max_steps, its entropy) and, when present, the random initial canvas as
uint32 ids. Then per step `<HHf` (step, max_steps, elapsed_s) followed by canvas ids and draft ids as uint32
deltas against the previous step (mostly zeros once a canvas settles), the accepted mask as one byte per cell
and the entropy in millinats as uint16. Version 1 blobs (no step 0) still decode.

A decoded canvas is a `CanvasFrames`: a list of its denoising steps (1…n, as before) that also carries the step-0
frame in `.start` when it is known, so code that counts steps is unchanged.
"""

from __future__ import annotations

import math
import struct
import sys
import zlib
from array import array
from collections.abc import Iterable

from engine.events import Frame

MAGIC = b"DDF1"
VERSION = 2
_HEADER = struct.Struct("<4sHHI")
_START = struct.Struct("<BHf")
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


class CanvasFrames(list):
    """One canvas's denoising steps (a plain list of `Frame`s) plus `start`, its step-0 frame when known."""

    def __init__(self, frames: Iterable[Frame] = (), start: Frame | None = None) -> None:
        super().__init__(frames)
        self.start = start


def start_frame(canvas_index: int, canvas: list[int], max_steps: int, vocab_size: int) -> Frame:
    """The step-0 frame of a canvas: its random ids, nothing accepted, the entropy of a uniform draw."""
    ids = list(canvas)
    entropy = math.log(max(2, vocab_size))
    return Frame(canvas_index, 0, max_steps, ids, ids, [False] * len(ids), [entropy] * len(ids), 0.0)


def steps_with_start(frames: list[Frame]) -> list[Frame]:
    """A canvas's frames from step 0 when the list carries one (`CanvasFrames`), else as they are."""
    start = getattr(frames, "start", None)
    if start is not None and (not frames or frames[0].step != 0):
        return [start, *frames]
    return list(frames)


def encode_canvas(frames: list[Frame], start: Frame | None = None) -> bytes:
    """Pack every frame of one canvas (in step order), and its step-0 frame when given, into one compressed blob."""
    start = start if start is not None else getattr(frames, "start", None)
    length = len(frames[0].draft) if frames else 0
    parts = [_HEADER.pack(MAGIC, VERSION, len(frames), length)]
    if start is not None and len(start.canvas) == length:
        parts.append(_START.pack(1, start.max_steps, float(start.entropy[0]) if start.entropy else 0.0))
        parts.append(_le(_u32(start.canvas)))
    else:
        parts.append(_START.pack(0, 0, 0.0))
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


def decode_canvas(blob: bytes, canvas_index: int) -> CanvasFrames:
    """Unpack a blob from `encode_canvas` back into frames (entropy rounded to 0.001), step 0 in `.start`."""
    data = zlib.decompress(blob)
    magic, version, steps, length = _HEADER.unpack_from(data, 0)
    if magic != MAGIC or version not in (1, VERSION):
        raise ValueError("not a Diffusion Desk frame blob (or a newer version of one)")
    pos = _HEADER.size
    start: Frame | None = None
    if version >= 2:
        has_start, start_steps, start_entropy = _START.unpack_from(data, pos)
        pos += _START.size
        if has_start:
            ids = list(_from_le("I", data[pos : pos + 4 * length]))
            pos += 4 * length
            start = Frame(canvas_index, 0, start_steps, ids, ids, [False] * length, [start_entropy] * length, 0.0)
    frames = CanvasFrames(start=start)
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
