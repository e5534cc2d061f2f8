"""Classic codecs through imageio-ffmpeg's ffmpeg, with the paper's settings (Section IV-A).

* x264: ``-c:v libx264 -preset veryslow -qp QP -g GOP`` (x264's GOPs are closed by default);
* x265: ``-c:v libx265 -preset veryslow -x265-params qp=QP:keyint=GOP`` (x265's default open
  GOP, as the paper's command and MEASUREMENTS.md);
* SVT-AV1 (when ffmpeg has it): ``-c:v libsvtav1 -preset 4 -qp QP -g GOP`` (constant QP,
  key-frame GOPs).

The input is the clip file itself (``-frames:v N`` when only the first frames are used). The
output is the raw elementary stream (Annex B for H.264/H.265, low-overhead OBUs for AV1); for
H.264/H.265 the encoder-info SEI (version string and option list) is removed and the stripped
stream is what is counted and decoded. Decoding goes through ffmpeg to 8-bit yuv420p.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from uarcodec.bench.annexb import strip_encoder_info
from uarcodec.bench.ffmpeg import (
    available_encoders, decode_to_raw_file, ffmpeg_exe, ffmpeg_version, run_measured,
)
from uarcodec.bench.results import PointResult
from uarcodec.bench.runner import ClipSpec, measure_raw_file
from uarcodec.errors import UarInputError

PAPER_QPS = (22, 27, 32, 37, 42)
SVTAV1_QPS = (30, 38, 46, 54, 62)


@dataclass(frozen=True)
class ClassicCodec:
    """How one classic codec is called: ffmpeg encoder, muxer, and the SEI rule."""

    name: str
    encoder: str
    muxer: str
    extension: str
    annexb: str | None  # "h264" / "hevc": strip encoder-info SEI; None: count the file as is
    preset: str

    def encoder_args(self, qp: int | str, gop: int) -> list[str]:
        """ffmpeg output options (``qp`` may be the placeholder ``"QP"``)."""
        base = ["-c:v", self.encoder, "-preset", self.preset]
        if self.name == "x265":
            return base + ["-x265-params", f"qp={qp}:keyint={gop}"]
        return base + ["-qp", str(qp), "-g", str(gop)]


X264 = ClassicCodec("x264", "libx264", "h264", "264", "h264", "veryslow")
X265 = ClassicCodec("x265", "libx265", "hevc", "265", "hevc", "veryslow")
SVTAV1 = ClassicCodec("svtav1", "libsvtav1", "obu", "obu", None, "4")
CLASSIC_CODECS = {c.name: c for c in (X264, X265, SVTAV1)}


def _label(qp: int) -> str:
    return f"qp{qp}"


def _qp_of(label: str) -> int:
    if not label.startswith("qp") or not label[2:].isdigit():
        raise UarInputError(f"not a QP point label: {label!r}")
    return int(label[2:])


class ClassicRunner:
    """A :class:`~uarcodec.bench.runner.CodecRunner` for one classic codec at one GOP."""

    def __init__(self, codec: ClassicCodec, gop: int, qps: Sequence[int]) -> None:
        if gop <= 0:
            raise UarInputError(f"GOP must be positive, got {gop}")
        if not qps:
            raise UarInputError("at least one QP is needed")
        self.codec = codec
        self.name = codec.name
        self.gop = gop
        self.qps = tuple(qps)

    def settings(self) -> dict[str, Any]:
        return {
            "gop": self.gop,
            "encoder": self.codec.encoder,
            "encoder_args": self.codec.encoder_args("QP", self.gop),
            "rate_control": "constant QP",
            "counted": "elementary stream without encoder-info SEI"
            if self.codec.annexb else "OBU stream",
            "ffmpeg": ffmpeg_version(),
        }

    def points(self) -> list[str]:
        return [_label(q) for q in self.qps]

    def encode_command(self, qp: int, clip: ClipSpec, frames: int, out: Path) -> list[str]:
        """The exact ffmpeg command of one encode."""
        return [
            ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
            "-i", str(clip.path), "-frames:v", str(frames), "-an", "-pix_fmt", "yuv420p",
            *self.codec.encoder_args(qp, self.gop), "-f", self.codec.muxer, str(out),
        ]

    def run_point(self, label: str, clip: ClipSpec, workdir: Path) -> PointResult:
        qp = _qp_of(label)
        info = clip.info()
        workdir = Path(workdir)
        workdir.mkdir(parents=True, exist_ok=True)
        stream = workdir / f"{label}.{self.codec.extension}"
        encoded = stream.with_suffix(".encoder-output") if self.codec.annexb else stream
        enc = run_measured(self.encode_command(qp, clip, info.frames, encoded),
                           f"{self.name} encoding {info.name} at {label}")
        if self.codec.annexb:
            stream.write_bytes(strip_encoder_info(encoded.read_bytes(), self.codec.annexb))
            encoded.unlink()
        raw = workdir / f"{label}.decoded.yuv"
        try:
            dec = decode_to_raw_file(stream, raw)
            return measure_raw_file(label, clip, info, raw, stream.stat().st_size,
                                    enc.seconds, dec.seconds, enc.peak_memory_mb)
        finally:
            raw.unlink(missing_ok=True)


def classic_runners(
    gop: int,
    codecs: Sequence[str] = ("x264", "x265", "svtav1"),
    qps: dict[str, Sequence[int]] | None = None,
) -> list[ClassicRunner]:
    """Runners for the named codecs this ffmpeg has (SVT-AV1 is skipped when absent;
    x264/x265 missing is an error). ``qps`` overrides the QP list per codec."""
    have = available_encoders()
    runners = []
    for name in codecs:
        if name not in CLASSIC_CODECS:
            raise UarInputError(f"unknown classic codec {name!r}: use {sorted(CLASSIC_CODECS)}")
        codec = CLASSIC_CODECS[name]
        if codec.encoder not in have:
            if name == "svtav1":
                continue
            raise UarInputError(f"this ffmpeg has no {codec.encoder} encoder")
        default = SVTAV1_QPS if name == "svtav1" else PAPER_QPS
        runners.append(ClassicRunner(codec, gop, (qps or {}).get(name, default)))
    return runners
