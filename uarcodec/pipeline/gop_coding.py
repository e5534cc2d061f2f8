"""Code one GOP: fit its model, quantize and entropy-code it, then decode it back.

:meth:`GopCoder.code` is the unit the encoder, the eps calibration and the benchmarks share.
Encode-then-decode-back holds by construction: the model record is serialised, parsed back
from those bytes, and the reference of the next P-model, the reconstruction and its quality
all come from :func:`~uarcodec.pipeline.rebuild.rebuild_model` on the parsed record, the
decoder's own path.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from uarcodec.bitstream import parse_model, serialize_model
from uarcodec.bitstream.records import PLANE_FLAGS_LAYOUT, ModelKind, ModelRecord, StreamHeader
from uarcodec.vocabulary import CodedTensorSpec
from uarcodec.pipeline.context_refit import with_own_context
from uarcodec.pipeline.fit import FitProgress, ModelFit, ProgressCallback, RateProbe
from uarcodec.pipeline.model_coding import ModelPlan, code_model, plan_model
from uarcodec.pipeline.plan import training_order_for
from uarcodec.pipeline.rebuild import rebuild_model, stream_skeleton
from uarcodec.pipeline.render import render_gop
from uarcodec.pipeline.seed_trials import winning_fit
from uarcodec.pipeline.training_target import make_target
from uarcodec.settings import EncoderSettings, Precision, TrainingSettings, derive_seed
from uarcodec.video.frames import YuvClip

StartCallback = Callable[[ModelKind, int], None]  # (kind, epochs) before a model's fit


@dataclass
class CodedGop:
    """One GOP's model as coded: its record (parsed back from its bytes), what the next
    P-model is predicted from (the decoded parameters, the trained steps, the training
    encoder) and the decoded frames."""

    record: ModelRecord
    theta_hat: list[np.ndarray]
    steps: list[float]
    encoder_state: dict | None
    recon: YuvClip
    fit_seconds: float
    history: list[FitProgress]  # the fit's per-epoch progress
    record_bytes: int  # the whole serialised record (coded words, entropy parameters, fields)

    @property
    def coded_bytes(self) -> int:
        return sum(t.coded_bytes for t in self.record.tensors)


@dataclass(frozen=True)
class GopCoder:
    """What every model of one stream shares: its header, settings and device."""

    header: StreamHeader
    settings: EncoderSettings
    device: torch.device

    @property
    def plane_flags(self) -> bool:
        """The stream may hold zero flags under plane contexts (format 1.8 on)."""
        return self.header.tensor_layout >= PLANE_FLAGS_LAYOUT

    def code(
        self, clip: YuvClip, gop_index: int, eps: float, prev: CodedGop | None, *,
        position: int = 0, on_start: StartCallback | None = None, on_epoch: ProgressCallback | None = None,
        target_bits: float | None = None,
    ) -> CodedGop:
        """Fit, code and decode back the model of one GOP: an I-model when ``prev`` is None,
        else a P-model predicted from ``prev`` with this ``eps``. ``gop_index`` (in the video)
        seeds the model; ``position`` is its place in the GOM. With ``target_bits`` its
        training steers lambda so that the model codes about that many bits."""
        v, c, s = self.header.video, self.header.coding, self.settings
        kind = ModelKind.I if prev is None else ModelKind.P
        prev_hat = None if prev is None else prev.theta_hat
        skeleton = stream_skeleton(self.header, clip.num_frames)
        specs = skeleton.coded_specs()
        target = make_target(clip, c.output_space, v.color_matrix, v.color_range, self.device)
        previous = None if prev_hat is None else {spec.name: t for spec, t in zip(specs, prev_hat)}
        content = {name: t.detach().cpu().numpy()
                   for name, t in skeleton.content_init(target.network_input_frames(), previous).items()}
        training = _as_recorded(s.training if prev is None else s.training.for_p_models(), self.header)
        epochs = training.epochs_i if prev is None else training.epochs_p

        plans: dict[int, ModelPlan] = {}
        trained_order = training_order_for(s)  # where the training prices the grids in another order

        def start_fit(seed: int) -> ModelFit:
            """The model's fit from ``seed``'s plan, set up, no epoch run."""
            plans[seed] = plan = plan_model(specs, kind, seed, eps, prev_hat, s.use_ref, content,
                                            s.training.rate_model)
            return ModelFit(
                skeleton, target, plan.init, plan.refs, training, epochs,
                init_steps=None if prev is None else matching_steps(prev.steps, specs, prev_hat),
                entropy=plan.entropy, temporal=plan.temporal, context_rate=plan.context_rate,
                context_order=trained_order,
                device=self.device, seed=seed,
                encoder_state=None if prev is None else prev.encoder_state,
                target_bpp=None if target_bits is None else target_bits / (v.width * v.height * clip.num_frames),
                rate_probe=None if target_bits is None else self._rate_probe(specs, plan, prev_hat, position,
                                                                             clip.num_frames),
            )

        trials = training.seed_trials if kind == ModelKind.I else 1
        started = time.perf_counter()
        model_fit = winning_fit(derive_seed(s.seed, gop_index), trials, start_fit)
        plan = plans[model_fit.seed]
        if on_start:
            on_start(kind, epochs)
        if on_epoch:
            for report in model_fit.history:  # a won trial's epochs, already run
                on_epoch(report)
        fit = model_fit.run(epochs, on_epoch).result()
        seconds = time.perf_counter() - started  # the trials' too
        def code(theta: list[np.ndarray]) -> ModelRecord:
            return code_model(specs, plan, theta, fit.steps, prev_hat, clip.num_frames, s.training.min_std,
                              self.plane_flags)

        coded = code(fit.theta)
        # the grids under a context network fitted to their integers, where that is smaller
        # (an I-model's network from the order it trained in; a P-model's network did not train)
        coded = with_own_context(specs, fit.theta, plan.refs, fit.steps, code, coded,
                                 lambda record: len(serialize_model(record, position, self.header)),
                                 trained_order if prev is None else None)
        record_bytes = serialize_model(coded, position, self.header)
        record = parse_model(record_bytes, position, self.header)
        rebuilt = rebuild_model(self.header, record, prev_hat, self.device)
        recon = render_gop(rebuilt.model, clip.num_frames, c.output_space, v.color_matrix, v.color_range, self.device)
        return CodedGop(record, rebuilt.theta_hat, fit.steps, fit.encoder_state, recon, seconds, fit.history,
                        len(record_bytes))

    def _rate_probe(self, specs: list[CodedTensorSpec], plan: ModelPlan, prev_hat: list[np.ndarray] | None,
                    position: int, frames: int) -> RateProbe:
        """The bits of this model's record were it coded now (rate control measures with it)."""
        def bits(theta: list[np.ndarray], steps: list[float]) -> float:
            coded = code_model(specs, plan, theta, steps, prev_hat, frames, self.settings.training.min_std,
                               self.plane_flags)
            return 8.0 * len(serialize_model(coded, position, self.header))
        return bits


def _as_recorded(training: TrainingSettings, header: StreamHeader) -> TrainingSettings:
    """``training`` with the precision the header records (the one resolved for this stream),
    so that every model of the stream trains as the stream says, on any machine."""
    recorded = header.coding.encoder_settings.get("precision")
    return training if recorded is None else dataclasses.replace(training, precision=Precision(recorded))


def matching_steps(
    prev_steps: list[float] | None, specs: list[CodedTensorSpec], prev_hat: list[np.ndarray] | None
) -> list[float | None] | None:
    """A P-model's quantizers start from the previous model's trained steps (same tensor)."""
    if prev_steps is None or prev_hat is None:
        return None
    return [
        prev_steps[i] if i < len(prev_hat) and tuple(prev_hat[i].shape) == spec.shape else None
        for i, spec in enumerate(specs)
    ]
