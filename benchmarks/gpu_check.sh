#!/usr/bin/env bash
# The GPU check of uarcodec, prepared to run in one go on a machine with a CUDA GPU in under 8
# minutes: the model benchmark on CUDA, the host syncs of a short CUDA encode
# (benchmarks/cuda_syncs.py), one 120-frame CIF encode at preset medium on CUDA, decoded back,
# and, with the time left, a profile of the encoder's own CUDA step (benchmarks/profile_step.py).
# Every part runs under its own time limit (a part that runs out says so and the next one
# starts), and every number goes into one markdown file as it is measured. Its run on an H200
# (docs/training_speed.md "GPU") had the encode cut off at 230 s: its 12,570 steps at the 14 to
# 16 ms a CUDA step took on an H100 need 3 to 3.5 minutes besides each model's setup; it now
# has 290 s, the model benchmark one size.
#
#   bash benchmarks/gpu_check.sh [CLIP.y4m] [OUT.md]
#
# CLIP defaults to ../shared/data/vtest_cif_120f.y4m (352x288, 120 frames); OUT to
# gpu_check.md (or $OUT/gpu_check.md when $OUT is set). The medium encode's progress goes to
# OUT with .md replaced by _encode.log.
set -uo pipefail
cd "$(dirname "$0")/.."
clip="${1:-../shared/data/vtest_cif_120f.y4m}"
out="${2:-${OUT:-.}/gpu_check.md}"
log="${out%.md}_encode.log"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
BUDGET=470  # seconds for the whole check: the parts' limits below add up to it

python -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'no CUDA device: nothing to check')" || exit 1

# part LIMIT CMD...: CMD under a limit of LIMIT seconds (less where the budget has less left)
part() {
  local limit=$1; shift
  local left=$(( BUDGET - SECONDS ))
  (( limit > left )) && limit=$left
  if (( limit < 10 )); then echo "(skipped: the check's $BUDGET s are spent)"; return 0; fi
  local t0=$SECONDS rc=0
  timeout "$limit" bash -c '"$@"' part "$@" || rc=$?
  if (( rc == 124 )); then echo "(cut off at its limit of $limit s)"; elif (( rc != 0 )); then echo "(failed, exit $rc)"; fi
  echo
  echo "($(( SECONDS - t0 )) s; $SECONDS s since the start)"
  return 0
}

encode_summary() {  # JSON of `uar encode --json` -> one line, and per model ms per frame-step
  python - "$@" <<'PY'
import json, sys
from uarcodec.settings import Preset, TrainingOptions
r = json.load(open(sys.argv[1]))
gop, gom, size, preset = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
t = TrainingOptions(preset=Preset(preset), device="cpu").encoder_settings(gop, gom, size).training
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
  encode_summary "$work/encode.json" 30 5 150000 medium
  echo
  uar -v quiet decode "$work/gpu.uar" -o "$work/gpu.y4m" --device cuda --json | python -c \
    "import json,sys; r=json.load(sys.stdin); print(f'decode on CUDA: {r[\"num_frames\"]} frames in {r[\"seconds\"]:.1f} s')"
}

export clip work log
export -f encode_summary medium_encode
{
  echo "# uarcodec GPU check"
  echo
  echo "$(date -u +%Y-%m-%dT%H:%MZ), $(python -c 'import torch; print(torch.__version__, torch.cuda.get_device_name(0))'), $(uar --version)"
  echo
  echo "## One encode on CUDA: $(basename "$clip"), p=30, m=5, 150k parameters, preset medium"
  echo
  part 290 medium_encode
  echo
  echo "## Model benchmark on CUDA"
  echo
  echo '`python benchmarks/bench_models.py --device cuda --sizes 150000 --steps 20 --warmup 5`'
  echo
  part 95 python benchmarks/bench_models.py --device cuda --sizes 150000 --steps 20 --warmup 5 --clip "$clip"
  echo
  echo "## Host syncs of a short CUDA encode"
  echo
  part 35 python benchmarks/cuda_syncs.py "$clip" --frames 8 -p 4 -m 2
  echo
  echo "## The encoder's CUDA step, profiled (HNeRV 150k, 30 frames)"
  echo
  part 45 python benchmarks/profile_step.py --device cuda --families hnerv --sizes 150000 --frames 30 --epochs 1 \
    --top 12 --clip "$clip"
} | tee "$out"
