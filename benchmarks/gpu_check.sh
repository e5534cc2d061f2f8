#!/usr/bin/env bash
# The GPU check of uarcodec, prepared to run in one go on a machine with a CUDA GPU in about 7
# minutes: a smoke test of the device (seconds), the model benchmark on CUDA, a 60-frame encode of
# the latent family on CUDA (with its motion field) decoded on CUDA and on the CPU and compared
# with the encoder's report, one 120-frame CIF encode at preset medium on CUDA (HNeRV) decoded
# back, and, with the time left, the latent family's CUDA step profiled
# (benchmarks/profile_step.py) with cuDNN's autotuner off and on.
#
# Every part runs in a process session of its own under a watchdog: at its limit (or the
# check's budget) the session gets TERM, then KILL five seconds later, and the check goes on
# WITHOUT waiting for it to exit. Two leases (0.10.0 on an H100, 0.15.0 on an H200) returned
# nothing from a call that ran past its limit; a CUDA process that does not die when killed
# must not keep the check (and the call) from ending. Every line goes to OUT as it is measured
# and to stdout; the check ends by BUDGET seconds whatever its parts do.
#
#   bash benchmarks/gpu_check.sh [CLIP.y4m] [OUT.md]
#
# CLIP defaults to ../shared/data/vtest_cif_120f.y4m (352x288, 120 frames); OUT to
# gpu_check.md (or $OUT/gpu_check.md when $OUT is set). The encodes' progress goes to OUT with
# .md replaced by _encode.log. Give the call that runs it at least 60 s more than BUDGET.
set -uo pipefail
cd "$(dirname "$0")/.."
clip="${1:-../shared/data/vtest_cif_120f.y4m}"
out="${2:-${OUT:-.}/gpu_check.md}"
log="${out%.md}_encode.log"
mkdir -p "$(dirname "$out")"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
BUDGET=440  # seconds for the whole check: the parts' limits below, and the kills' 5 s, add up to it

timeout -k 5 60 python -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'no CUDA device: nothing to check')" || exit 1

say() { printf '%s\n' "$*" | tee -a "$out"; }

# part LIMIT CMD...: CMD in a session of its own, watched for at most LIMIT seconds (less where
# the budget has less left); its output is shown when it ends or is cut off
part() {
  local limit=$1; shift
  local left=$(( BUDGET - SECONDS ))
  (( limit > left )) && limit=$left
  if (( limit < 10 )); then say "(skipped: the check's $BUDGET s are spent)"; return 0; fi
  local t0=$SECONDS rc=0 pid
  setsid bash -c '"$@"' part "$@" > "$work/part.out" 2>&1 < /dev/null &
  pid=$!
  while kill -0 "$pid" 2>/dev/null && (( SECONDS - t0 < limit )); do sleep 1; done
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM -- "-$pid" 2>/dev/null; sleep 5; kill -KILL -- "-$pid" 2>/dev/null
    tee -a "$out" < "$work/part.out"
    say "(cut off at its limit of $limit s; the last line of its log:)"
    say "$(tail -c 400 "$log" 2>/dev/null | tr '\r' '\n' | grep -v '^ *$' | tail -1)"
  else
    wait "$pid" || rc=$?
    tee -a "$out" < "$work/part.out"
    (( rc != 0 )) && say "(failed, exit $rc)"
  fi
  say ""
  say "($(( SECONDS - t0 )) s; $SECONDS s since the start)"
  return 0
}

smoke() {  # the device, a matrix product and a convolution, each waited for
  python - <<'PY'
import time, torch
t = time.perf_counter()
x = torch.randn(4096, 4096, device="cuda")
torch.cuda.synchronize()
y = x @ x
conv = torch.nn.Conv2d(16, 16, 3, padding=1).cuda()
z = conv(torch.randn(1, 16, 288, 352, device="cuda"))
torch.cuda.synchronize()
print(f"{torch.__version__}, {torch.cuda.get_device_name(0)}, CUDA {torch.version.cuda}, cuDNN "
      f"{torch.backends.cudnn.version()}: first CUDA work in {time.perf_counter() - t:.1f} s "
      f"({float(y.abs().mean()):.1f}, {float(z.abs().mean()):.3f})")
PY
}

encode_summary() {  # JSON of `uar encode --json` -> one line, and per model ms per frame-step
  python - "$@" <<'PY'
import json, sys
from uarcodec.settings import Preset, TrainingOptions
from uarcodec.vocabulary import ModelFamily
r = json.load(open(sys.argv[1]))
gop, gom, size, preset, family = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], sys.argv[6]
options = TrainingOptions(preset=Preset(preset), device="cpu", family=ModelFamily(family))
t = options.encoder_settings(gop, gom, size).training
print(f"bytes {r['file_bytes']}, {r['bpp']:.4f} bpp, PSNR-YUV {r['psnr_yuv']:.2f} dB, "
      f"encode {r['encode_seconds']:.1f} s, peak host memory {r['peak_memory_mb']:.0f} MB")
print()
print("| model | kind | epochs | fit s | ms per frame-step | bytes | PSNR-YUV |")
print("|---:|---|---:|---:|---:|---:|---:|")
for m in r["models"]:
    epochs = t.epochs_i if m["kind"] == "I" else t.epochs_p
    ms = 1000 * m["fit_seconds"] / (epochs * gop)
    print(f"| {m['gop']} | {m['kind']} | {epochs} | {m['fit_seconds']:.1f} | {ms:.2f} | {m['coded_bytes']:,} "
          f"| {m['psnr_yuv']:.2f} |")
PY
}

medium_encode() {
  uar -v info encode "$clip" -o "$work/gpu.uar" -p 30 -m 5 --size 150k --preset medium --device cuda \
    --json > "$work/encode.json" 2> "$log" || return $?
  encode_summary "$work/encode.json" 30 5 150000 medium hnerv
  echo
  decode_compare "$work/gpu.uar" cuda "$clip"
}

decode_compare() {  # STREAM DEVICE REFERENCE: decode there, print the seconds and the PSNR
  uar -v quiet decode "$1" -o "$work/decoded.y4m" --device "$2" -y --json > "$work/decode.json" || return $?
  uar -v quiet compare "$3" "$work/decoded.y4m" --no-ms-ssim --json > "$work/compare.json" || return $?
  python - "$work/decode.json" "$work/compare.json" "$2" <<'PY'
import json, sys
d, c = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
print(f"decode on {sys.argv[3]}: {d['num_frames']} frames in {d['seconds']:.1f} s, "
      f"PSNR-YUV of the decoded frames {c['quality']['mean']['psnr_yuv']:.4f} dB")
PY
}

latent_encode() {
  local header frame
  header=$(head -1 "$clip" | wc -c)  # the first 60 frames of the clip, as the reference to compare with
  frame=$(( $(python -c "import sys; from uarcodec.video import open_video; r = open_video(sys.argv[1]); print(r.info.width * r.info.height * 3 // 2)" "$clip") + 6 ))
  head -c $(( header + 60 * frame )) "$clip" > "$work/first60.y4m"
  uar -v info encode "$work/first60.y4m" -o "$work/latent.uar" -p 30 -m 2 --model latent --size 200k \
    --preset fast --latent-motion 16 --latent-motion-block 32 --device cuda --json > "$work/latent.json" 2>> "$log" \
    || return $?
  encode_summary "$work/latent.json" 30 2 200000 fast latent
  python -c "import json; print(f'encoder report PSNR-YUV {json.load(open(\"$work/latent.json\"))[\"psnr_yuv\"]:.4f} dB')"
  echo
  decode_compare "$work/latent.uar" cuda "$work/first60.y4m"
  echo
  decode_compare "$work/latent.uar" cpu "$work/first60.y4m"
}

export clip work log
export -f encode_summary medium_encode decode_compare latent_encode smoke
: > "$out"
say "# uarcodec GPU check"
say ""
say "$(date -u +%Y-%m-%dT%H:%MZ), $(uar --version)"
say ""
say "## The device"
say ""
part 30 smoke
say ""
say "## Model benchmark on CUDA"
say ""
say '`python benchmarks/bench_models.py --device cuda --families hnerv latent --sizes 150000 --steps 20 --warmup 5`'
say ""
part 60 python benchmarks/bench_models.py --device cuda --families hnerv latent --sizes 150000 --steps 20 --warmup 5 \
  --clip "$clip"
say ""
say "## The latent family on CUDA: 60 frames, p=30, m=2, 200k, preset fast, a motion field of 32-pixel blocks"
say ""
say "(encoded on CUDA; decoded on CUDA and on the CPU: the stream's entropy coding is integer, so both"
say "decoders read the same parameters; the pixels may differ by the devices' float rounding)"
say ""
part 80 latent_encode
say ""
say "## One encode on CUDA: $(basename "$clip"), p=30, m=5, 150k parameters, preset medium"
say ""
part 240 medium_encode
say ""
say "## The latent family's CUDA step, profiled (200k, 30 frames, motion field), cuDNN autotuner off, then on"
say ""
part 15 python benchmarks/profile_step.py --device cuda --families latent --sizes 200000 --frames 30 --epochs 1 \
  --latent-motion 16 --latent-motion-block 32 --clip "$clip"
part 15 python benchmarks/profile_step.py --device cuda --families latent --sizes 200000 --frames 30 --epochs 1 \
  --latent-motion 16 --latent-motion-block 32 --cudnn-benchmark --clip "$clip"
