"""The RD results JSON: one schema for every codec (classic ones and ours).

A file holds one codec on one clip with one set of settings (GOP included)::

    {
      "schema": "uarcodec-bench-results", "schema_version": 1,
      "codec": "x265",
      "settings": {"gop": 30, "preset": "veryslow", ...},
      "clip": {"name": "carphone_qcif_120f", "width": 176, "height": 144,
               "frames": 120, "fps": 29.97002997002997},
      "measurement": {"rgb_matrix": "bt601", "rgb_range": "limited",
                      "ms_ssim_method": "...", "psnr_cap_db": 100.0},
      "points": [{"label": "qp32", "bpp": 0.0764, "kbps": 58.0, "psnr_y": ..., "psnr_u": ...,
                  "psnr_v": ..., "psnr_yuv": ..., "psnr_rgb": ..., "ms_ssim": ...,
                  "encode_seconds": ..., "decode_seconds": ..., "peak_memory_mb": ...,
                  "file_bytes": 29039}, ...]
    }

``ms_ssim`` and ``peak_memory_mb`` may be null. Malformed files raise UarInputError.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from uarcodec.errors import UarInputError
from uarcodec.sysinfo import atomic_write_text

SCHEMA_NAME = "uarcodec-bench-results"
SCHEMA_VERSION = 1


@dataclass(frozen=True)
class ClipInfo:
    """The clip a result was measured on (``frames`` actually coded)."""

    name: str
    width: int
    height: int
    frames: int
    fps: float


@dataclass(frozen=True)
class PointResult:
    """One rate point of one codec on one clip."""

    label: str
    bpp: float
    kbps: float
    psnr_y: float
    psnr_u: float
    psnr_v: float
    psnr_yuv: float
    psnr_rgb: float
    ms_ssim: float | None
    encode_seconds: float
    decode_seconds: float
    peak_memory_mb: float | None
    file_bytes: int


@dataclass
class CodecResults:
    """Every point of one codec on one clip with one set of settings."""

    codec: str
    settings: dict[str, Any]
    clip: ClipInfo
    measurement: dict[str, Any]
    points: list[PointResult] = field(default_factory=list)

    def point(self, label: str) -> PointResult | None:
        """The point with this label, if it was measured."""
        return next((p for p in self.points if p.label == label), None)

    def put(self, point: PointResult) -> None:
        """Add a point, replacing one of the same label."""
        self.points = [p for p in self.points if p.label != point.label] + [point]

    def sorted_points(self) -> list[PointResult]:
        """Points in increasing rate."""
        return sorted(self.points, key=lambda p: p.bpp)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA_NAME,
            "schema_version": SCHEMA_VERSION,
            "codec": self.codec,
            "settings": self.settings,
            "clip": asdict(self.clip),
            "measurement": self.measurement,
            "points": [asdict(p) for p in self.points],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=False) + "\n"

    @classmethod
    def from_dict(cls, data: Any, source: str = "results") -> CodecResults:
        return _parse_results(data, source)

    @classmethod
    def from_json(cls, text: str, source: str = "results") -> CodecResults:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise UarInputError(f"{source}: not valid JSON ({exc})") from exc
        return _parse_results(data, source)

    def save(self, path: Path) -> None:
        """Write atomically: a temporary file renamed over ``path``."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, self.to_json())

    @classmethod
    def load(cls, path: Path) -> CodecResults:
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise UarInputError(f"cannot read results file {path}: {exc}") from exc
        return cls.from_json(text, str(path))


# --------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------


def _require(data: dict[str, Any], key: str, source: str) -> Any:
    if key not in data:
        raise UarInputError(f"{source}: missing field {key!r}")
    return data[key]


def _number(value: Any, where: str, *, optional: bool = False, integer: bool = False) -> Any:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise UarInputError(f"{where} must be a number, got {value!r}")
    if integer and not isinstance(value, int):
        raise UarInputError(f"{where} must be an integer, got {value!r}")
    if not math.isfinite(value):
        raise UarInputError(f"{where} must be finite, got {value!r}")
    return value


def _string(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise UarInputError(f"{where} must be a non-empty string, got {value!r}")
    return value


def _object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise UarInputError(f"{where} must be an object")
    return value


def _parse_clip(data: Any, source: str) -> ClipInfo:
    clip = _object(data, f"{source}: clip")
    where = f"{source}: clip"
    info = ClipInfo(
        name=_string(_require(clip, "name", where), f"{where}.name"),
        width=_number(_require(clip, "width", where), f"{where}.width", integer=True),
        height=_number(_require(clip, "height", where), f"{where}.height", integer=True),
        frames=_number(_require(clip, "frames", where), f"{where}.frames", integer=True),
        fps=float(_number(_require(clip, "fps", where), f"{where}.fps")),
    )
    if min(info.width, info.height, info.frames) <= 0 or info.fps <= 0:
        raise UarInputError(f"{where}: size, frames and fps must be positive")
    return info


_OPTIONAL_POINT_FIELDS = {"ms_ssim", "peak_memory_mb"}


def _parse_point(data: Any, where: str) -> PointResult:
    point = _object(data, where)
    values: dict[str, Any] = {}
    for f in fields(PointResult):
        value = _require(point, f.name, where)
        if f.name == "label":
            values[f.name] = _string(value, f"{where}.label")
        else:
            values[f.name] = _number(
                value, f"{where}.{f.name}", optional=f.name in _OPTIONAL_POINT_FIELDS,
                integer=f.name == "file_bytes",
            )
    return PointResult(**values)


def _parse_results(data: Any, source: str) -> CodecResults:
    root = _object(data, source)
    if root.get("schema") != SCHEMA_NAME:
        raise UarInputError(f"{source}: not a {SCHEMA_NAME} file")
    version = _number(_require(root, "schema_version", source), f"{source}: schema_version",
                      integer=True)
    if version != SCHEMA_VERSION:
        raise UarInputError(
            f"{source}: schema_version {version} is not supported (this reader: {SCHEMA_VERSION})"
        )
    points_data = _require(root, "points", source)
    if not isinstance(points_data, list):
        raise UarInputError(f"{source}: points must be a list")
    points = [_parse_point(p, f"{source}: points[{i}]") for i, p in enumerate(points_data)]
    labels = [p.label for p in points]
    if len(set(labels)) != len(labels):
        raise UarInputError(f"{source}: repeated point labels {labels}")
    return CodecResults(
        codec=_string(_require(root, "codec", source), f"{source}: codec"),
        settings=_object(_require(root, "settings", source), f"{source}: settings"),
        clip=_parse_clip(_require(root, "clip", source), source),
        measurement=_object(_require(root, "measurement", source), f"{source}: measurement"),
        points=points,
    )
