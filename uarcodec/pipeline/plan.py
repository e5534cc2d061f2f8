"""What an encode will do, decided before any training: the frames, the model size, the GOMs
(:func:`plan_encode`), and the stream header that records it (:func:`stream_header`)."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np
import torch

from uarcodec.bitstream.records import (
    ARCH_FIELD_VERSIONS,
    PLANE_FLAGS_FORMAT_VERSION,
    SCENE_CUTS_FORMAT_VERSION,
    CodingParams,
    OutputSpace,
    StreamHeader,
    VideoParams,
)
from uarcodec.coding.entropy import CODER_ID, coder_version
from uarcodec.errors import UarInputError, UarSettingsError
from uarcodec.models.latent import LatentGrids, chained
from uarcodec.models.registry import family_by_name
from uarcodec.pipeline.fit import resolve_precision
from uarcodec.pipeline.partition import GopPartition
from uarcodec.settings import Distortion, EncoderSettings
from uarcodec.sizing import operating_point
from uarcodec.video.block_motion import estimate_block_offsets
from uarcodec.video.global_motion import MIN_CLIP_GAIN, estimate_translation
from uarcodec.video.reader import VideoReader
from uarcodec.video.scene_cuts import find_scene_cuts, frame_differences
from uarcodec.vocabulary import MAX_MOTION_MARGIN, ContextOrder, ModelFamily

QUANTIZER_ID = 0  # per-tensor uniform scalar quantizer with a trained step (bitstream_spec.md)


# the widest motion margin the encoder picks, as a share of the frame's short side: a margin costs
# grid values (and time) on every side; a camera that pans further is followed in part
MAX_MARGIN_SHARE = 1 / 3
# The motion field (format 1.7): blocks of 32 pixels, where at least a fifth of the blocks move
# otherwise than the camera and the camera itself does not move, with a margin of at least
# field_margin() (16 pixels at CIF). Shares of moving blocks of the five clips: box 0.47,
# carphone 0.48, cockatoo 0.93, megamind 0.81, vtest 0.03 (people walking before a still
# camera). The README bench, a field against 0.9.0's streams: box -28.5% BD-rate, carphone
# -5.4%, megamind -18.3%; 60 frames of vtest at lambda 150: 11.5% more bytes and -0.18 dB; the
# bench's first point of cockatoo (a moving camera) with a field on its 90-pixel margin: 57,905
# bytes at 31.77 dB against 40,846 at 31.98 (its field cost 8.2 and 6.8 kB a model)
# (docs/latent_grids.md, "A motion field").
MOTION_BLOCK = 32
MIN_MOVING_SHARE = 0.2
# The margin a field needs, as a share of the frame's short side: 16 pixels at CIF, 8 at QCIF
# (carphone, the README bench, 8 against 16: -6.2% BD-rate).
FIELD_MARGIN_SHARE = 1 / 18


def field_margin(width: int, height: int) -> int:
    """The least margin, in pixels, of a stream with a motion field: :data:`FIELD_MARGIN_SHARE`
    of the frame's short side, at least 1."""
    return max(1, round(FIELD_MARGIN_SHARE * min(width, height)))


@dataclass(frozen=True)
class EncodePlan:
    """An encode as it will run: the input's parameters, how many of its frames are coded,
    the settings with the model size resolved, and the GOM count."""

    video: VideoParams
    num_frames: int
    settings: EncoderSettings
    num_goms: int


def plan_encode(
    video: VideoParams, settings: EncoderSettings, *, frames: int | None = None, bpp: float | None = None,
    fitted_size: bool = False,
) -> EncodePlan:
    """The plan for encoding ``video``: the first ``frames`` frames (all by default), sized by
    :func:`uarcodec.sizing.operating_point`. With ``fitted_size`` the model size is chosen
    here (the one that targets ``bpp`` when given, else the one that fits this frame size and
    p); without it ``settings.model_size`` stays. With ``bpp`` the encode is rate-controlled
    to it (``settings.target_bpp``)."""
    if frames is not None and frames < 1:
        raise UarInputError(f"the number of frames to encode must be at least 1, got {frames}")
    num_frames = video.num_frames if frames is None else min(frames, video.num_frames)
    if num_frames < 1:
        raise UarInputError("there are no frames to encode")
    gop_frames = min(settings.gop_size, num_frames)
    models_per_gom = min(settings.gom_size, math.ceil(num_frames / settings.gop_size))
    point = operating_point(
        settings.family, video.width, video.height, settings.gop_size, gop_frames, models_per_gom,
        bpp=bpp, model_size=None if fitted_size else settings.model_size,
    )
    target = settings.target_bpp if bpp is None else point.target_bpp  # a planned plan keeps its target
    settings = dataclasses.replace(settings, model_size=point.model_size, target_bpp=target)
    settings.validate()
    return EncodePlan(video, num_frames, settings, len(plan_partition(num_frames, settings).goms))


def plan_partition(num_frames: int, settings: EncoderSettings) -> GopPartition:
    """The GOPs and GOMs of an encode of ``num_frames`` frames with ``settings`` (scene cuts
    not decided yet count as none)."""
    return GopPartition(num_frames, settings.gop_size, settings.gom_size, settings.scene_cuts or ())


def plan_scene_cuts(reader: VideoReader, plan: EncodePlan) -> EncodePlan:
    """``plan`` with its scene cuts found in the video where the settings leave them to it
    (``scene_cuts`` None): one pass over the luma, a GOP at a time
    (:mod:`uarcodec.video.scene_cuts`). Cuts given by the settings stay (:func:`plan_encode`
    checked them against the frames coded)."""
    settings = plan.settings
    if settings.scene_cuts is not None:
        return plan
    cuts = find_scene_cuts(frame_differences(reader.iter_chunks(settings.gop_size, 0, plan.num_frames)))
    chosen = dataclasses.replace(settings, scene_cuts=cuts)
    return dataclasses.replace(plan, settings=chosen, num_goms=len(plan_partition(plan.num_frames, chosen).goms))


def context_order_for(settings: EncoderSettings) -> ContextOrder:
    """The order in which the latent family's context network codes the grids: the one the
    settings name, else the wavefront (before a still camera it codes the same quality in fewer
    bytes: docs/latent_grids.md, "The wavefront order by default"). Where the grids follow a
    moving camera the training prices them in another order (:func:`training_order_for`)."""
    if settings.latent_context_order is not None:
        return settings.latent_context_order
    return ContextOrder.WAVEFRONT


def training_order_for(settings: EncoderSettings) -> ContextOrder | None:
    """The order in which the latent family's training prices the grids where it is not the
    coded one (the stream's ``context_order``), None where it is: the checkerboard where the
    grids follow a moving camera (per-frame offsets, no field) and the settings name no order.
    Priced by wavefronts before cockatoo's moving camera, its I-model trains its full-resolution
    grid dense; priced in the checkerboard and coded by wavefronts under a network fitted after
    training to the integers (pipeline/context_refit.py), its grids code smaller
    (docs/latent_grids.md, "Trained in the checkerboard, coded by wavefronts")."""
    camera_moves = bool(settings.latent_motion) and not settings.latent_motion_block
    return ContextOrder.CHECKERBOARD if camera_moves and settings.latent_context_order is None else None


def plan_motion(reader: VideoReader, plan: EncodePlan) -> EncodePlan:
    """``plan`` with the latent family's offsets decided where the settings leave them to the
    video (``latent_motion`` or ``latent_motion_block`` None), from one more pass over the
    frames, a GOP at a time (:class:`MotionSurvey`); for the other families, whether the camera
    moves where their P-models' epochs depend on it (:func:`_plan_camera`).

    The margin (``latent_motion`` None): where the camera moves (the GOPs' global translations,
    :func:`~uarcodec.video.global_motion.estimate_translation`, explain on average, over the
    frames, :data:`~uarcodec.video.global_motion.MIN_CLIP_GAIN` of the frame differences), the
    widest offset any model would start from, in whole pixels, at most a third of the frame's
    short side (:data:`MAX_MARGIN_SHARE`) and the format's 256; else 0. A P-model's offsets
    continue from its predecessor's last frame (``LatentGrids.content_init``), so along a GOM
    the paths are chained: cockatoo's second GOP reaches 90 pixels where alone it spans 43
    (the P-model of 60 frames, lambda 150, 490k: 37,584 bytes at 32.89 dB with a 43-pixel
    margin, 29,847 at 33.10 with 90).

    The field (``latent_motion_block`` None): blocks of :data:`MOTION_BLOCK` pixels where things
    move in much of the picture (:data:`MIN_MOVING_SHARE` of the blocks, over the frames, move
    otherwise than the camera: :func:`~uarcodec.video.block_motion.estimate_block_offsets`)
    before a camera that does not move (the camera's gain below ``MIN_CLIP_GAIN``), with a
    margin of at least :func:`field_margin` pixels; else none."""
    settings = plan.settings
    if settings.family != ModelFamily.LATENT:
        return _plan_camera(reader, plan)
    if None not in (settings.latent_motion, settings.latent_motion_block):
        return plan
    if settings.latent_motion == 0:  # no offsets, so no field
        return dataclasses.replace(plan, settings=dataclasses.replace(settings, latent_motion_block=0))
    margin, block = settings.latent_motion, settings.latent_motion_block
    survey = MotionSurvey.of(reader, plan, blocks=block is None)
    if block is None:
        block = MOTION_BLOCK if survey.moving >= MIN_MOVING_SHARE and survey.gain < MIN_CLIP_GAIN else 0
    if margin is None:
        cap = min(MAX_MOTION_MARGIN, int(MAX_MARGIN_SHARE * min(plan.video.width, plan.video.height)))
        margin = min(cap, math.ceil(survey.reach)) if survey.gain >= MIN_CLIP_GAIN else 0
        if block:
            margin = max(margin, field_margin(plan.video.width, plan.video.height))
    chosen = dataclasses.replace(settings, latent_motion=margin, latent_motion_block=block)
    return dataclasses.replace(plan, settings=chosen)


def _plan_camera(reader: VideoReader, plan: EncodePlan) -> EncodePlan:
    """``plan`` with ``camera_moves`` decided where the P-models' epochs or lambda depend on it
    (HNeRV at a preset: :data:`~uarcodec.settings.MOVING_P_EPOCH_FRACTION`,
    :data:`~uarcodec.settings.MOVING_P_LAMBDA_SCALE`): the camera moves where
    the GOPs' global translations explain ``MIN_CLIP_GAIN`` of the frame differences, as for
    the latent family's margin and ``--model auto``."""
    settings = plan.settings
    if settings.camera_moves is not None or not settings.training.motion_pending:
        return plan
    survey = MotionSurvey.of(reader, plan, blocks=False)
    chosen = dataclasses.replace(settings, camera_moves=survey.gain >= MIN_CLIP_GAIN)
    return dataclasses.replace(plan, settings=chosen)


@dataclass(frozen=True)
class MotionSurvey:
    """What one pass over a video's GOPs says of its motion: the widest offset of the GOPs'
    global paths as the models would start from them (``reach``, pixels; chained along each
    GOM), the frame-weighted share of the frame differences those paths explain (``gain``), and
    the frame-weighted share of blocks of :data:`MOTION_BLOCK` pixels whose own motion differs
    from the camera's (``moving``; measured only with ``blocks``, else 0)."""

    reach: float
    gain: float
    moving: float

    @classmethod
    def of(cls, reader: VideoReader, plan: EncodePlan, blocks: bool = True) -> "MotionSurvey":
        return cls.measure(reader, plan_partition(plan.num_frames, plan.settings), blocks)

    @classmethod
    def measure(cls, reader: VideoReader, partition: GopPartition, blocks: bool = True) -> "MotionSurvey":
        """The survey of the first ``partition.num_frames`` frames cut as ``partition`` says."""
        reach = gain = moving = 0.0
        num_frames = partition.num_frames
        for gom in partition.goms:
            last = None
            for gop in gom.gops:
                clip = reader.read(gop.first_frame, gop.num_frames)
                translation = estimate_translation(clip.y)
                path = translation.offsets
                weight = clip.num_frames / num_frames
                gain += translation.gain * weight
                if blocks:
                    moving += _moving_share(clip.y, path) * weight
                if last is not None:  # a P-model: continued
                    path = chained(path, last)
                last = path[-1]
                reach = max(reach, float(np.abs(path).max()))
        return cls(reach, gain, moving)


@dataclass(frozen=True)
class FamilyChoice:
    """The family ``--model auto`` picked for a video, and why (``reason``: a few words)."""

    family: ModelFamily
    reason: str


def choose_family(
    reader: VideoReader, gop_size: int, gom_size: int, num_frames: int, *,
    model_sizes: tuple[int, ...] = (), bpp: float | None = None, latent_options: bool = False,
) -> FamilyChoice:
    """The family that codes this video best for its encode time (``--model auto``, the
    default): the latent grids before a still camera, HNeRV where the camera moves (the GOPs'
    global translations explain :data:`~uarcodec.video.global_motion.MIN_CLIP_GAIN` of the
    frame differences, :class:`MotionSurvey`). Measured, the README bench at preset fast and
    each family at the other's seconds (docs/latent_grids.md, "Which family, clip by clip" and,
    for 0.12.0's longer latent P-models, "The epochs of I- and P-models", and for 0.13.0's
    coding, "Zero flags under plane contexts"): the latent grids ahead on box, carphone,
    megamind and vtest (19%, 24%, 7.5% and 2.9% fewer bytes), HNeRV ahead on cockatoo (a
    handheld camera). The latent family also where a latent option is given
    (``latent_options``); HNeRV where the latent grids cannot take the size asked for
    (``model_sizes``; none given: the size the encode would give them, for the target rate
    ``bpp`` where given) at this frame size and p. (Rate control lands both families within
    12% of the README's targets: docs/rate_control.md.)"""
    if latent_options:
        return FamilyChoice(ModelFamily.LATENT, "latent options given")
    width, height, gop_frames = reader.info.width, reader.info.height, min(gop_size, num_frames)
    try:
        sizes = model_sizes or (operating_point(
            ModelFamily.LATENT, width, height, gop_size, gop_frames,
            min(gom_size, math.ceil(num_frames / gop_size)), bpp=bpp).model_size,)
        for size in sizes:
            LatentGrids.config_for_size(size, height, width, gop_frames)
    except UarSettingsError:
        return FamilyChoice(ModelFamily.HNERV,
                            f"the latent grids cannot take this size at {width}x{height}, {gop_frames} frames a GOP")
    survey = MotionSurvey.measure(reader, GopPartition(num_frames, gop_size, gom_size), blocks=False)
    if survey.gain >= MIN_CLIP_GAIN:
        return FamilyChoice(ModelFamily.HNERV, f"a moving camera, motion gain {survey.gain:.2f}")
    return FamilyChoice(ModelFamily.LATENT, f"a still camera, motion gain {survey.gain:.2f}")


def _moving_share(luma: np.ndarray, path: np.ndarray) -> float:
    """The share of a GOP's blocks of :data:`MOTION_BLOCK` pixels, over its frames, whose
    estimated offset is not the camera's ``path``."""
    height, width = luma.shape[1:]
    shape = (-(-height // MOTION_BLOCK), -(-width // MOTION_BLOCK))
    field = estimate_block_offsets(luma, MOTION_BLOCK, shape, path).offsets
    return float(np.mean(np.any(field != path[:, :, None, None], axis=1)))


def stream_header(video: VideoParams, num_frames: int, settings: EncoderSettings, device: torch.device) -> StreamHeader:
    """The header of a stream of the first ``num_frames`` frames of ``video`` encoded with
    ``settings`` on ``device``: the network sized for the GOP, and every setting as used."""
    if settings.family == ModelFamily.LATENT and settings.latent_motion is None:
        # undecided (no plan_motion, as the calibration's pairs): no offsets, and the training's
        # P-model epochs for grids that do not move
        settings = dataclasses.replace(settings, latent_motion=0)
    family = family_by_name(settings.family)
    config = family.config_for_size(settings.model_size, video.height, video.width, min(settings.gop_size, num_frames))
    if settings.latent_context is not None:  # validated: the latent family; its grids stay as sized
        config = dataclasses.replace(config, context_hidden=settings.latent_context)
    if getattr(config, "context_hidden", 0):
        config = dataclasses.replace(config, context_order=int(context_order_for(settings)))
    if settings.latent_motion:  # validated: the latent family
        config = dataclasses.replace(config, motion_margin=settings.latent_motion,
                                     motion_block=settings.latent_motion_block or 0)
    space = OutputSpace.RGB if settings.training.distortion == Distortion.RGB else OutputSpace.YUV
    coded = dataclasses.replace(video, num_frames=num_frames)
    precision = resolve_precision(settings.training.precision, device)
    coding = CodingParams(
        gop_size=settings.gop_size, gom_size=settings.gom_size, family_id=family.family_id,
        arch=config.to_fields(), quantizer_id=QUANTIZER_ID, coder_id=CODER_ID, coder_version=coder_version(),
        output_space=space,
        encoder_settings=settings.informational_fields(precision=precision, device=device.type),
        scene_cuts=settings.scene_cuts or (),
    )
    version = max([WRITTEN_FORMAT_VERSION, *([SCENE_CUTS_FORMAT_VERSION] if coding.scene_cuts else []),
                   *(v for name, v in ARCH_FIELD_VERSIONS.items() if name in coding.arch)])
    return StreamHeader(video=coded, coding=coding, writer_version=version, min_reader_version=version)


# The format every stream is written in (spec 5.2): 1.8, whatever the network, since any tensor
# of rank 2 or more may have its zero flags under plane contexts (1.8 holds 1.5's context-coded
# records and 1.6's and 1.7's architecture fields too). Until 0.12.0 the encoder wrote 1.4
# (HNeRV, HiNeRV, the latent grids without a context network), 1.5, 1.6 or 1.7 (the latent
# grids, by their context network and motion): a 1.8 reader reads them all. A stream with scene
# cuts is written as 1.9 (SCENE_CUTS_FORMAT_VERSION), one whose latent grids are coded by
# wavefronts (the context_order field: since 0.18.0 the default where the camera holds still,
# since 0.21.0 for every video, context_order_for) as 1.10; any other stays 1.8, byte for byte.
WRITTEN_FORMAT_VERSION = PLANE_FLAGS_FORMAT_VERSION
