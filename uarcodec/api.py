"""The public Python API of uarcodec: what the CLI calls, and what users script against.

    import uarcodec
    report = uarcodec.encode("in.y4m", "out.uar", uarcodec.EncoderSettings(gop_size=30))
    info = uarcodec.stream_info("out.uar")
    uarcodec.decode("out.uar", "out.mp4")
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import asdict, dataclass, field, replace
from fractions import Fraction
from pathlib import Path
from typing import Any, BinaryIO

from uarcodec.bitstream import UarReader
from uarcodec.bitstream.records import GomRecord, ModelKind, StreamHeader, TensorRecord, VideoParams
from uarcodec.errors import UarFormatError, UarInputError, UarSettingsError
from uarcodec.metrics import QualityReport
from uarcodec.parallel.executors import ExecutorKind, ParallelSettings, cores_per_worker
from uarcodec.parallel.gom_decode import parallel_outcomes
from uarcodec.pipeline.breakdown import bits_breakdown, tensor_specs
from uarcodec.pipeline.conceal import ConcealedGom, concealed_clips
from uarcodec.pipeline.decoder import decode_frames, gom_parts, serial_outcomes
from uarcodec.pipeline.encoder import EncodeEvents, EncodeReport, VideoSource, check_output, encode_stream
from uarcodec.pipeline.fit import resolve_device
from uarcodec.pipeline.partition import GopPartition, stream_partition
from uarcodec.pipeline.plan import EncodePlan, FamilyChoice
from uarcodec.pipeline.plan import choose_family as choose_video_family
from uarcodec.pipeline.plan import plan_encode as plan_video_encode
from uarcodec.pipeline.plan import plan_scene_cuts
from uarcodec.settings import EncoderSettings, TrainingOptions
from uarcodec.video import VideoReader, open_video, open_writer
from uarcodec.video.frames import YuvClip

# Re-exported for front ends (the `uar` CLI reaches the codec only through this module): the
# progress events and report types of an encode, and where an interrupted encode is kept.
from uarcodec.pipeline.divergence import LR_CUT
from uarcodec.pipeline.encoder import GomStats, ModelDone, partial_path
from uarcodec.pipeline.fit import FitProgress
from uarcodec.pipeline.partition import Gom, Gop

__all__ = [
    "ComparisonResult", "ConcealedGom", "DecodeReport", "EncodeEvents", "EncodeReport", "EncodePlan", "ExecutorKind",
    "FamilyChoice", "FitProgress", "FrameRange", "Gom", "GomStats", "Gop", "InputOptions", "LR_CUT", "ModelDone",
    "ParallelSettings", "UarStream", "choose_family", "compare_videos", "decode", "encode", "open_stream",
    "partial_path", "plan_encode", "select_frames", "set_threads", "stream_info",
]


def set_threads(threads: int) -> None:
    """CPU threads torch may use in this process (training and decoding)."""
    import torch

    torch.set_num_threads(threads)


@dataclass(frozen=True)
class InputOptions:
    """How to read the input video (raw .yuv needs the size; rate defaults to 25)."""

    size: tuple[int, int] | None = None
    fps: Fraction | None = None
    pix_fmt: str | None = None


def _open_input(input_path: str | Path, options: InputOptions) -> VideoReader:
    return open_video(str(input_path), size=options.size, fps=options.fps, pix_fmt=options.pix_fmt)


def plan_encode(
    input_path: str | Path,
    output_path: str | Path,
    settings: EncoderSettings,
    *,
    input_options: InputOptions = InputOptions(),
    frames: int | None = None,
    bpp: float | None = None,
    fitted_size: bool = False,
    overwrite: bool = False,
) -> EncodePlan:
    """What :func:`encode` will do with these arguments, checked before anything is trained or
    written: the input's parameters, the frames coded, the settings with the model size
    resolved (with ``fitted_size``: the size that targets ``bpp`` when given, else the one that
    fits the frame size and p; :func:`uarcodec.sizing.operating_point`), the target rate
    (``bpp``: rate-controlled), the scene cuts (found in the video where the settings leave them
    to it) and the GOM count. Raises as :func:`encode` would for a bad input, bad settings or an
    output it may not write."""
    with _open_input(input_path, input_options) as reader:
        plan = plan_video_encode(reader.info, settings, frames=frames, bpp=bpp, fitted_size=fitted_size)
        plan = plan_scene_cuts(reader, plan)
    check_output(Path(output_path), overwrite)
    return plan


def choose_family(
    input_path: str | Path,
    training: TrainingOptions,
    gop_size: int,
    gom_size: int,
    *,
    input_options: InputOptions = InputOptions(),
    frames: int | None = None,
    model_sizes: tuple[int, ...] = (),
    bpp: float | None = None,
) -> tuple[TrainingOptions, FamilyChoice | None]:
    """``training`` with its family chosen for this video where it is not (``family`` None:
    ``--model auto``; :func:`uarcodec.pipeline.plan.choose_family`), and the choice made (None
    where the family was given). ``model_sizes``: the sizes asked for, if any; ``bpp``: the
    target rate, if any."""
    if training.family is not None:
        return training, None
    with _open_input(input_path, input_options) as reader:
        count = reader.info.num_frames if frames is None else min(frames, reader.info.num_frames)
        if count < 1:
            raise UarInputError("there are no frames to encode")
        choice = choose_video_family(reader, gop_size, gom_size, count, model_sizes=model_sizes, bpp=bpp,
                                     latent_options=training.latent_options)
    return replace(training, family=choice.family), choice


def encode(
    input_path: str | Path,
    output_path: str | Path,
    settings: EncoderSettings,
    *,
    input_options: InputOptions = InputOptions(),
    frames: int | None = None,
    device: str = "auto",
    overwrite: bool = False,
    resume: bool = False,
    events: EncodeEvents | None = None,
    parallel: ParallelSettings = ParallelSettings(),
) -> EncodeReport:
    """Encode a video file into a .uar stream, its GOMs run by the executor ``parallel``
    names (in this process by default); see :func:`uarcodec.pipeline.encoder.encode_stream`."""
    source = VideoSource(str(input_path), input_options.size, input_options.fps, input_options.pix_fmt)
    return encode_stream(
        source, Path(output_path), settings, frames=frames, device=device,
        overwrite=overwrite, resume=resume, events=events, parallel=parallel,
    )


class UarStream:
    """An open .uar file: header, GOM index and random access to GOMs."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if not self.path.is_file():
            raise UarInputError(f"{self.path}: no such file")
        self._fh: BinaryIO = open(self.path, "rb")
        try:
            self.reader = UarReader(self._fh)
        except BaseException:
            self._fh.close()
            raise

    def __enter__(self) -> "UarStream":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._fh.close()

    @property
    def header(self) -> StreamHeader:
        return self.reader.header

    @property
    def partition(self) -> GopPartition:
        return stream_partition(self.header)

    def read_gom(self, k: int) -> GomRecord:
        return self.reader.read_gom(k)

    def frames(self, start: int = 0, count: int | None = None, device: str = "auto") -> Iterator[YuvClip]:
        """Decoded frames ``start .. start + count - 1``, GOP by GOP."""
        total = self.header.video.num_frames
        n = total - start if count is None else count
        return decode_frames(self.reader, start, n, resolve_device(device))


def open_stream(path: str | Path) -> UarStream:
    return UarStream(path)


@dataclass(frozen=True)
class FrameRange:
    start: int
    count: int


def select_frames(
    header: StreamHeader, *, gom: int | None = None, start_seconds: float | None = None, frames: int | None = None
) -> FrameRange:
    """The frames ``uar decode --gom K / -ss T / -frames N`` asks for."""
    total = header.video.num_frames
    if gom is not None:
        goms = stream_partition(header).goms
        if not 0 <= gom < len(goms):
            raise UarInputError(f"GOM {gom} does not exist (the stream has GOMs 0..{len(goms) - 1})")
        start, count = goms[gom].first_frame, goms[gom].num_frames
    else:
        start = 0
        if start_seconds is not None:
            if start_seconds < 0 or not math.isfinite(start_seconds):
                raise UarInputError(f"start time must be >= 0, got {start_seconds}")
            start = int(math.floor(start_seconds * header.video.fps + Fraction(1, 10**6)))
            if start >= total:
                raise UarInputError(f"start time {start_seconds}s is past the end ({total} frames)")
        count = total - start
    if frames is not None:
        if frames < 1:
            raise UarInputError("-frames must be at least 1")
        count = min(count, frames)
    return FrameRange(start, count)


@dataclass
class DecodeReport:
    path: str
    first_frame: int
    num_frames: int
    goms_read: int
    seconds: float
    concealed: list[ConcealedGom] = field(default_factory=list)  # damaged GOMs (with ``conceal``)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def decode(
    input_path: str | Path,
    output_path: str,
    *,
    gom: int | None = None,
    start_seconds: float | None = None,
    frames: int | None = None,
    device: str = "auto",
    overwrite: bool = False,
    on_frames: Callable[[int, int], None] | None = None,
    workers: int = 1,
    threads_per_worker: int | None = None,
    conceal: bool = False,
) -> DecodeReport:
    """Decode a .uar stream (or the frames asked for) into a video file (by extension; ``-``
    writes y4m to stdout).

    ``workers`` > 1 decodes GOMs in that many spawned processes of ``threads_per_worker``
    torch threads each (default: the cores shared out), with the same frames as a serial
    decode (a script calling this needs the ``if __name__ == "__main__":`` guard).
    ``conceal``: a missing or damaged GOM (UarFormatError) does not stop the decode;
    its frames repeat the last good frame (mid-grey before any) and it is listed in
    ``DecodeReport.concealed``. Without it the first damage is raised."""
    threads = _worker_threads(workers, threads_per_worker)
    t0 = time.perf_counter()
    with open_stream(input_path) as stream:
        rng = select_frames(stream.header, gom=gom, start_seconds=start_seconds, frames=frames)
        info = _output_info(stream.header.video, rng.count)
        done = 0
        concealed: list[ConcealedGom] = []
        with open_writer(output_path, info, overwrite=overwrite) as writer, \
                closing(_decoded_clips(stream, rng, device, workers, threads, conceal)) as clips:
            for clip, damaged in clips:
                writer.write(clip)
                if damaged is not None:
                    concealed.append(damaged)
                done += clip.num_frames
                if on_frames:
                    on_frames(done, rng.count)
        goms_read = len(stream.partition.goms_for_frames(rng.start, rng.count))
    return DecodeReport(str(output_path), rng.start, rng.count, goms_read, time.perf_counter() - t0, concealed)


def _worker_threads(workers: int, threads_per_worker: int | None) -> int:
    if workers < 1:
        raise UarInputError(f"workers must be at least 1, got {workers}")
    if threads_per_worker is not None and threads_per_worker < 1:
        raise UarInputError(f"threads per worker must be at least 1, got {threads_per_worker}")
    return threads_per_worker or cores_per_worker(workers)


def _decoded_clips(
    stream: UarStream, rng: FrameRange, device: str, workers: int, threads: int, conceal: bool
) -> Iterator[tuple[YuvClip, ConcealedGom | None]]:
    """The frames of ``rng`` in order, each with the GOM concealed in their place (if any)."""
    if workers == 1 and not conceal:  # the plain in-process path, GOP by GOP
        for clip in stream.frames(rng.start, rng.count, device):
            yield clip, None
        return
    dev = resolve_device(device)
    parts = gom_parts(stream.header, rng.start, rng.count)
    outcomes = (
        serial_outcomes(stream.reader, parts, dev) if workers == 1
        else parallel_outcomes(str(stream.path), parts, str(dev), workers, threads)
    )
    video = stream.header.video
    with closing(outcomes):
        yield from concealed_clips(outcomes, video.width, video.height, conceal)


def _output_info(video: VideoParams, count: int) -> VideoParams:
    return VideoParams(
        width=video.width, height=video.height, num_frames=count, fps=video.fps,
        pix_fmt=video.pix_fmt, color_matrix=video.color_matrix, color_range=video.color_range,
    )


def stream_info(
    path: str | Path, *, verbose: bool = False, strict: bool = True, breakdown: bool = False
) -> dict[str, Any]:
    """A JSON-able summary of a stream: video, settings, per GOM and per model (and per
    tensor with ``verbose``; where the bits go with ``breakdown``: by model kind, tensor role,
    share of zero symbols and GOM). Reads every GOM chunk (to validate and size them).

    ``strict``: a stream whose index had to be rebuilt by scanning (truncated, damaged
    trailer or chunks) is a :class:`UarFormatError` naming the first damage; otherwise the
    recoverable GOMs are listed and ``index_recovered`` is true."""
    with open_stream(path) as stream:
        reader = stream.reader
        if strict and reader.recovered:
            err = reader.index_error
            gom_note = f"; {len(reader.index)} complete GOM(s) are still decodable"
            raise UarFormatError(
                f"damaged stream: {err.args[0] if err else 'index rebuilt by scanning'}{gom_note}"
            )
        h = stream.header
        v, c = h.video, h.coding
        out: dict[str, Any] = {
            "file": str(path),
            "file_bytes": stream.reader.file_size,
            "format_version": f"{h.writer_version[0]}.{h.writer_version[1]}",
            "min_reader_version": f"{h.min_reader_version[0]}.{h.min_reader_version[1]}",
            "index_recovered": bool(getattr(stream.reader, "recovered", False)),
            "video": {
                "width": v.width, "height": v.height, "frames": v.num_frames,
                "fps": f"{v.fps.numerator}/{v.fps.denominator}", "pix_fmt": v.pix_fmt.name.lower(),
                "color_matrix": v.color_matrix.name.lower(), "color_range": v.color_range.name.lower(),
                "bpp": stream.reader.file_size * 8 / (v.width * v.height * v.num_frames),
            },
            "coding": {
                "gop_size": c.gop_size, "gom_size": c.gom_size, "family_id": c.family_id,
                "family": _family_name(c.family_id), "arch": c.arch, "quantizer_id": c.quantizer_id,
                "coder_id": c.coder_id, "coder_version": c.coder_version, "init_id": c.init_id,
                "output_space": c.output_space.name.lower(), "encoder_settings": c.encoder_settings,
                "scene_cuts": list(c.scene_cuts),
            },
            "goms": [],
        }
        goms = []
        names = _TensorNames(h)
        for entry in stream.reader.index:
            gom = stream.read_gom(entry.index)
            out["goms"].append(_gom_info(entry, gom, v, names if verbose else None))
            goms.append(gom)
        if breakdown:
            out["breakdown"] = bits_breakdown(h, goms)
        return out


def _family_name(family_id: int) -> str:
    from uarcodec.models.registry import family_by_id

    try:
        return family_by_id(family_id).family_name
    except UarFormatError:
        return f"unknown ({family_id})"


def _tensor_coding(t: TensorRecord) -> str:
    """How a tensor's integers are coded: ``zero``, or the entropy model with ``+temporal``,
    ``+mask(kept/channels)`` and ``+flags`` (zero flags; ``+planeflags`` under plane contexts)."""
    if t.is_zero:
        return "zero"
    parts = [t.entropy_model.name.lower()]
    if t.zero_flags is not None:
        parts.append("flags")
    if t.plane_flags is not None:
        parts.append("planeflags")
    if t.temporal:
        parts.append("temporal")
    if t.channel_mask is not None:
        parts.append(f"mask({int(t.channel_mask.sum())}/{len(t.channel_mask)})")
    return "+".join(parts)


class _TensorNames:
    """The names and roles of a model's coded tensors, from the family's skeleton (per frame
    count); none where the family is unknown to this reader or the count disagrees."""

    def __init__(self, header: StreamHeader):
        self._header = header
        self._specs: dict[int, list | None] = {}

    def of(self, num_frames: int, count: int) -> list[tuple[str | None, str | None]]:
        if num_frames not in self._specs:
            try:
                self._specs[num_frames] = tensor_specs(self._header, num_frames)
            except (UarFormatError, UarSettingsError):
                self._specs[num_frames] = None
        specs = self._specs[num_frames]
        if specs is None or len(specs) != count:
            return [(None, None)] * count
        return [(spec.name, spec.role.name.lower()) for spec in specs]


def _gom_info(entry, gom: GomRecord, video: VideoParams, names: _TensorNames | None) -> dict[str, Any]:
    """One GOM's summary; with ``names`` (``uar info -v``) every coded tensor too."""
    models = []
    for m in gom.models:
        coded = sum(t.coded_bytes for t in m.tensors)
        model: dict[str, Any] = {
            "kind": "I" if m.kind == ModelKind.I else "P",
            "frames": m.num_frames,
            "seed": m.seed,
            "eps": m.eps,
            "params": sum(t.num_elements for t in m.tensors),
            "coded_bytes": coded,
        }
        if names is not None:
            model["tensors"] = [
                {
                    "name": name, "role": role,
                    "shape": list(t.shape), "ref": t.ref_mode.name.lower(),
                    "coding": _tensor_coding(t), "step": t.step,
                    "mean": t.mean, "std": t.std, "symbols": [t.min_symbol, t.max_symbol],
                    "bytes": t.coded_bytes,
                    "bits_per_param": t.coded_bytes * 8 / max(1, t.num_elements),
                }
                for t, (name, role) in zip(m.tensors, names.of(m.num_frames, len(m.tensors)))
            ]
        models.append(model)
    return {
        "index": gom.index, "first_frame": gom.first_frame, "frames": gom.num_frames,
        "offset": entry.offset, "bytes": entry.length,
        "bpp": entry.length * 8 / (video.width * video.height * max(1, gom.num_frames)),
        "models": models,
    }


@dataclass
class ComparisonResult:
    quality: "QualityReport"
    stream_bytes: int | None
    bpp: float | None
    kbps: float | None

    def to_dict(self) -> dict[str, Any]:
        return {"quality": self.quality.to_dict(), "stream_bytes": self.stream_bytes,
                "bpp": self.bpp, "kbps": self.kbps}


def compare_videos(
    reference: str | Path,
    decoded: str | Path,
    *,
    stream_path: str | Path | None = None,
    size: tuple[int, int] | None = None,
    fps: Fraction | None = None,
    with_ms_ssim: bool = True,
    chunk_frames: int = 30,
) -> ComparisonResult:
    """Per-frame quality of ``decoded`` against ``reference`` (streamed in chunks), with bpp
    from the coded file's size when given. PSNR-RGB uses the reference's colour tags."""
    from uarcodec.metrics import QualityAccumulator, bits_per_pixel, kilobits_per_second

    with open_video(str(reference), size=size, fps=fps) as ref, open_video(str(decoded), size=size, fps=fps) as dec:
        ri, di = ref.info, dec.info
        if (ri.width, ri.height) != (di.width, di.height):
            raise UarInputError(f"frame sizes differ: {ri.width}x{ri.height} and {di.width}x{di.height}")
        if di.num_frames > ri.num_frames:
            raise UarInputError(f"{decoded} has more frames ({di.num_frames}) than {reference} ({ri.num_frames})")
        acc = QualityAccumulator(ri.color_matrix.name.lower(), ri.color_range.name.lower(), with_ms_ssim)
        for s in range(0, di.num_frames, chunk_frames):
            n = min(chunk_frames, di.num_frames - s)
            acc.add(ref.read(s, n), dec.read(s, n))
    report = acc.report()
    if stream_path is None:
        return ComparisonResult(report, None, None, None)
    nbytes = Path(stream_path).stat().st_size
    return ComparisonResult(
        report, nbytes, bits_per_pixel(nbytes, ri.width, ri.height, di.num_frames),
        kilobits_per_second(nbytes, di.num_frames, float(ri.fps)),
    )
