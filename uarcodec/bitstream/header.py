"""The HEAD chunk payload: versions, video parameters, coding parameters (spec section 5)."""

from __future__ import annotations

from fractions import Fraction

from uarcodec.bitstream.fields import read_fields, write_fields
from uarcodec.bitstream.primitives import PayloadBuilder, PayloadReader
from uarcodec.bitstream.records import (
    ARCH_FIELD_VERSIONS,
    FORMAT_VERSION,
    SCENE_CUTS_FORMAT_VERSION,
    CodingParams,
    ColorMatrix,
    ColorRange,
    OutputSpace,
    PixelFormat,
    StreamHeader,
    VideoParams,
)
from uarcodec.bitstream.settings_baseline import settings_baseline
from uarcodec.errors import UarSettingsError, UarVersionError
from uarcodec.vocabulary import scene_cuts_in_order

MAX_DIMENSION = 65535
_NAME = "HEAD"


def _check_video(video: VideoParams, out: PayloadBuilder) -> None:
    for what, value in (("width", video.width), ("height", video.height)):
        if not isinstance(value, int) or not 1 <= value <= MAX_DIMENSION:
            raise out.fail(f"{what} = {value!r} is outside 1..{MAX_DIMENSION}")
    if not isinstance(video.num_frames, int) or video.num_frames < 1:
        raise out.fail(f"num_frames = {video.num_frames!r} must be >= 1")
    fps = video.fps
    if not isinstance(fps, Fraction) or fps <= 0:
        raise out.fail(f"fps = {fps!r} must be a positive Fraction")


def _code(out: PayloadBuilder, enum_type, value, what: str) -> int:
    try:
        return int(enum_type(value))
    except ValueError:
        raise out.fail(f"unknown {what} {value!r}") from None


def compact_fields(min_reader_version: tuple[int, int]) -> bool:
    """Whether the stream's field lists are in the compact layout (format 1.4, spec 2)."""
    return min_reader_version >= (1, 4)


def serialize_header(header: StreamHeader) -> bytes:
    """The HEAD payload of ``header``; invalid values raise UarSettingsError."""
    out = PayloadBuilder(UarSettingsError)
    for what, version in (("writer_version", header.writer_version),
                          ("min_reader_version", header.min_reader_version)):
        if not (isinstance(version, tuple) and len(version) == 2):
            raise out.fail(f"{what} must be a (major, minor) tuple, got {version!r}")
        out.u16(version[0], f"{what} major")
        out.u16(version[1], f"{what} minor")
    video, coding = header.video, header.coding
    _check_video(video, out)
    out.u32(video.width, "width")
    out.u32(video.height, "height")
    out.u32(video.num_frames, "num_frames")
    out.u32(video.fps.numerator, "fps numerator")
    out.u32(video.fps.denominator, "fps denominator")
    out.u8(_code(out, PixelFormat, video.pix_fmt, "pix_fmt"), "pix_fmt")
    out.u8(_code(out, ColorMatrix, video.color_matrix, "color_matrix"), "color_matrix")
    out.u8(_code(out, ColorRange, video.color_range, "color_range"), "color_range")
    for what, value in (("gop_size", coding.gop_size), ("gom_size", coding.gom_size)):
        if not isinstance(value, int) or value < 1:
            raise out.fail(f"{what} = {value!r} must be >= 1")
        out.u32(value, what)
    out.u16(coding.family_id, "family_id")
    compact = compact_fields(header.min_reader_version)
    if problem := _arch_version_problem(coding.arch, header.min_reader_version):
        raise out.fail(problem)
    write_fields(out, coding.arch, "arch", compact=compact)
    out.u16(coding.quantizer_id, "quantizer_id")
    out.u16(coding.coder_id, "coder_id")
    out.string(coding.coder_version, "coder_version")
    out.u16(coding.init_id, "init_id")
    out.u8(_code(out, OutputSpace, coding.output_space, "output_space"), "output_space")
    baseline = settings_baseline(header.min_reader_version)
    write_fields(out, coding.encoder_settings, "encoder_settings", baseline, compact=compact)
    _write_scene_cuts(out, header)
    return out.bytes()


def _arch_version_problem(arch: dict, min_reader: tuple[int, int]) -> str | None:
    """What is wrong with an architecture field of :data:`ARCH_FIELD_VERSIONS` in a stream of
    an earlier format (a reader of that version would not know it), None if nothing."""
    for name, version in ARCH_FIELD_VERSIONS.items():
        if name in arch and min_reader < version:
            return f"architecture field {name} needs format {version[0]}.{version[1]}"
    return None


def _write_scene_cuts(out: PayloadBuilder, header: StreamHeader) -> None:
    """Format 1.9's scene cuts (spec 5): their count and the frames, each a uvar; a stream of
    an earlier version has none and no such fields."""
    cuts = header.coding.scene_cuts
    if header.min_reader_version < SCENE_CUTS_FORMAT_VERSION:
        if cuts:
            raise out.fail(f"scene cuts need format {SCENE_CUTS_FORMAT_VERSION[0]}.{SCENE_CUTS_FORMAT_VERSION[1]}")
        return
    frames = header.video.num_frames
    if not all(isinstance(c, int) for c in cuts) or not scene_cuts_in_order(cuts, frames):
        raise out.fail(f"scene cuts {list(cuts)} must be increasing frames of 1..{frames - 1}")
    out.uvar(len(cuts), "scene_cut_count")
    for cut in cuts:
        out.uvar(cut, "scene_cut")


def _read_scene_cuts(src: PayloadReader, min_reader: tuple[int, int], num_frames: int) -> tuple[int, ...]:
    if min_reader < SCENE_CUTS_FORMAT_VERSION:
        return ()
    at = src.offset
    count = src.uvar("scene_cut_count")
    if count >= num_frames:
        raise src.error(f"scene_cut_count {count} must be below num_frames {num_frames}", at=at)
    cuts: list[int] = []
    for _ in range(count):
        at = src.offset
        cut = src.uvar("scene_cut")
        if not (cuts[-1] if cuts else 0) < cut < num_frames:
            raise src.error(f"scene cut {cut} must follow {cuts[-1] if cuts else 0} and be below "
                            f"num_frames {num_frames}", at=at)
        cuts.append(cut)
    return tuple(cuts)


def check_reader_version(min_reader: tuple[int, int], writer: tuple[int, int], offset: int) -> None:
    if min_reader > FORMAT_VERSION:
        raise UarVersionError(
            f"the stream needs reader version {min_reader[0]}.{min_reader[1]} or newer "
            f"(written by format {writer[0]}.{writer[1]}); this reader implements "
            f"{FORMAT_VERSION[0]}.{FORMAT_VERSION[1]}",
            chunk=_NAME,
            offset=offset,
        )


def _enum(src: PayloadReader, enum_type, what: str):
    at = src.offset
    code = src.u8(what)
    try:
        return enum_type(code)
    except ValueError:
        raise src.error(f"unknown {what} code {code}", at=at) from None


def _positive_u32(src: PayloadReader, what: str, upper: int | None = None) -> int:
    at = src.offset
    value = src.u32(what)
    if value < 1 or (upper is not None and value > upper):
        bound = f"1..{upper}" if upper is not None else ">= 1"
        raise src.error(f"{what} = {value} must be {bound}", at=at)
    return value


def parse_header(payload: bytes, offset: int) -> StreamHeader:
    """The StreamHeader of a HEAD payload starting at file offset ``offset``."""
    src = PayloadReader(payload, offset, _NAME)
    writer = (src.u16("writer major"), src.u16("writer minor"))
    min_reader = (src.u16("min reader major"), src.u16("min reader minor"))
    check_reader_version(min_reader, writer, offset + 4)
    width = _positive_u32(src, "width", MAX_DIMENSION)
    height = _positive_u32(src, "height", MAX_DIMENSION)
    num_frames = _positive_u32(src, "num_frames")
    fps = Fraction(_positive_u32(src, "fps numerator"), _positive_u32(src, "fps denominator"))
    video = VideoParams(
        width=width,
        height=height,
        num_frames=num_frames,
        fps=fps,
        pix_fmt=_enum(src, PixelFormat, "pix_fmt"),
        color_matrix=_enum(src, ColorMatrix, "color_matrix"),
        color_range=_enum(src, ColorRange, "color_range"),
    )
    gop_size = _positive_u32(src, "gop_size")
    gom_size = _positive_u32(src, "gom_size")
    family_id = src.u16("family_id")
    compact = compact_fields(min_reader)
    arch = read_fields(src, "arch", compact=compact)
    if problem := _arch_version_problem(arch, min_reader):
        raise src.error(problem)
    quantizer_id = src.u16("quantizer_id")
    coder_id = src.u16("coder_id")
    coder_version = src.string("coder_version")
    init_id = src.u16("init_id")
    output_space = _enum(src, OutputSpace, "output_space")
    settings = read_fields(src, "encoder_settings", settings_baseline(min_reader), compact=compact)
    scene_cuts = _read_scene_cuts(src, min_reader, num_frames)
    src.expect_end()
    coding = CodingParams(
        gop_size=gop_size,
        gom_size=gom_size,
        family_id=family_id,
        arch=arch,
        quantizer_id=quantizer_id,
        coder_id=coder_id,
        coder_version=coder_version,
        init_id=init_id,
        output_space=output_space,
        encoder_settings=settings,
        scene_cuts=scene_cuts,
    )
    return StreamHeader(video=video, coding=coding, writer_version=writer, min_reader_version=min_reader)
