"""The UAR-NVC decoder: rebuilds every model from the stream alone and renders its frames.

Decoding frames ``[start, start + count)`` touches only the GOMs that hold them, and reads only
those GOMs' bytes (plus the header and the index).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch

from uarcodec.bitstream import UarReader
from uarcodec.bitstream.records import GomRecord, StreamHeader
from uarcodec.errors import UarFormatError, UarInputError
from uarcodec.pipeline.partition import stream_partition
from uarcodec.pipeline.rebuild import load_model, rebuild_params
from uarcodec.pipeline.render import render_gop
from uarcodec.video.frames import YuvClip, concatenate


def decode_gom_clips(
    header: StreamHeader, gom: GomRecord, device: torch.device, wanted: range | None = None
) -> Iterator[YuvClip]:
    """Yield the frames of each GOP of a GOM in order. With ``wanted`` (frame numbers of the
    video), GOPs without a wanted frame are rebuilt (P-models need them) but not rendered, and
    only wanted frames are yielded."""
    v, c = header.video, header.coding
    prev_hat: list[np.ndarray] | None = None
    first = gom.first_frame
    for record in gom.models:
        skeleton, theta_hat = rebuild_params(header, record, prev_hat)
        local = _local_frames(range(first, first + record.num_frames), wanted)
        if local:  # a network is loaded only for the GOPs rendered
            model = load_model(skeleton, theta_hat, device)
            yield render_gop(model, record.num_frames, c.output_space, v.color_matrix, v.color_range, device, local)
        prev_hat = theta_hat
        first += record.num_frames


def _local_frames(gop_frames: range, wanted: range | None) -> range | None:
    if wanted is None:
        return range(len(gop_frames))
    lo = max(gop_frames.start, wanted.start)
    hi = min(gop_frames.stop, wanted.stop)
    return range(lo - gop_frames.start, hi - gop_frames.start) if lo < hi else None


def check_gom(header: StreamHeader, gom: GomRecord, expected_index: int) -> None:
    """The GOM record agrees with the partition the header implies."""
    part = stream_partition(header)
    goms = part.goms
    if not 0 <= expected_index < len(goms):
        raise UarFormatError(f"GOM {expected_index} is outside the video's {len(goms)} GOMs")
    want = goms[expected_index]
    lengths = [g.num_frames for g in want.gops]
    if gom.first_frame != want.first_frame or [m.num_frames for m in gom.models] != lengths:
        raise UarFormatError(
            f"GOM {expected_index} does not match the partition (first frame {gom.first_frame}, "
            f"GOP lengths {[m.num_frames for m in gom.models]}, expected {want.first_frame}, {lengths})",
            chunk=f"GOM {expected_index}",
        )


def decode_frames(reader: UarReader, start: int, count: int, device: torch.device) -> Iterator[YuvClip]:
    """Yield frames ``start .. start + count - 1`` of the stream, GOP by GOP."""
    header = reader.header
    total = header.video.num_frames
    if start < 0 or start >= total:
        raise UarInputError(f"start frame {start} is outside the video (0..{total - 1})")
    count = min(count, total - start)
    part = stream_partition(header)
    wanted = range(start, start + count)
    for gom in part.goms_for_frames(start, count):
        record = reader.read_gom(gom.index)
        check_gom(header, record, gom.index)
        yield from decode_gom_clips(header, record, device, wanted)


@dataclass(frozen=True)
class GomPart:
    """The frames ``first_frame .. stop - 1`` of GOM ``index`` that a decode asks for."""

    index: int
    first_frame: int
    num_frames: int

    @property
    def stop(self) -> int:
        return self.first_frame + self.num_frames


def gom_parts(header: StreamHeader, start: int, count: int) -> list[GomPart]:
    """The wanted part of each GOM holding any of frames ``start .. start + count - 1``."""
    total = header.video.num_frames
    if start < 0 or start >= total:
        raise UarInputError(f"start frame {start} is outside the video (0..{total - 1})")
    stop = min(start + count, total)
    part = stream_partition(header)
    return [
        GomPart(g.index, max(g.first_frame, start), min(g.stop, stop) - max(g.first_frame, start))
        for g in part.goms_for_frames(start, stop - start)
    ]


def decode_gom_part(reader: UarReader, part: GomPart, device: torch.device) -> YuvClip:
    """The wanted frames of one GOM, read, checked and decoded as one clip (UarFormatError
    when the GOM is missing or damaged)."""
    record = reader.read_gom(part.index)
    check_gom(reader.header, record, part.index)
    wanted = range(part.first_frame, part.stop)
    return concatenate(list(decode_gom_clips(reader.header, record, device, wanted)))


GomOutcome = tuple[GomPart, YuvClip | UarFormatError]
"""A GOM part with its decoded frames, or the format error that stopped its decoding."""


def serial_outcomes(reader: UarReader, parts: list[GomPart], device: torch.device) -> Iterator[GomOutcome]:
    """Decode the parts one after the other in this process; a damaged GOM gives its error."""
    for part in parts:
        try:
            clip = decode_gom_part(reader, part, device)
        except UarFormatError as exc:
            yield part, exc
        else:
            yield part, clip
