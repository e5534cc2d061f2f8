#!/usr/bin/env bash
# The GPU check of uarcodec, prepared to run in one go on a machine with a CUDA GPU (meant to
# take under 8 minutes; its first run on an H100, with three model sizes, did not finish in 9:
# docs/training_speed.md "GPU"): the model benchmark on CUDA, the host syncs of a short CUDA
# encode (benchmarks/cuda_syncs.py), then one 120-frame CIF encode at preset medium on CUDA,
# decoded back. Every number goes into one markdown file.
#
#   bash benchmarks/gpu_check.sh [CLIP.y4m] [OUT.md]
#
# CLIP defaults to ../shared/data/vtest_cif_120f.y4m (352x288, 120 frames); OUT to
# gpu_check.md (or $OUT/gpu_check.md when $OUT is set).
set -euo pipefail
cd "$(dirname "$0")/.."
clip="${1:-../shared/data/vtest_cif_120f.y4m}"
out="${2:-${OUT:-.}/gpu_check.md}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

python -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'no CUDA device: nothing to check')"
{
  echo "# uarcodec GPU check"
  echo
  echo "$(date -u +%Y-%m-%dT%H:%MZ), $(python -c 'import torch; print(torch.__version__, torch.cuda.get_device_name(0))')"
  echo
  echo "## Model benchmark on CUDA"
  echo
  echo '`python benchmarks/bench_models.py --device cuda --sizes 50000 150000 --steps 20 --warmup 5`'
  echo
  python benchmarks/bench_models.py --device cuda --sizes 50000 150000 --steps 20 --warmup 5 --clip "$clip" \
    || echo "(the model benchmark failed)"
  echo
  echo "(the model benchmark took $SECONDS s since the start)"
  echo
  echo "## Host syncs of a short CUDA encode"
  echo
  python benchmarks/cuda_syncs.py "$clip" --frames 8 -p 4 -m 2 || echo "(the sync count failed)"
  echo
  echo "($SECONDS s since the start)"
  echo
  echo "## One encode on CUDA: $clip, p=30, m=5, 150k parameters, preset medium"
  echo
  start=$(date +%s)
  uar -v quiet encode "$clip" -o "$work/gpu.uar" -p 30 -m 5 --size 150k --preset medium --device cuda --json \
    > "$work/encode.json"
  echo "wall seconds of \`uar encode\`: $(( $(date +%s) - start ))"
  echo
  python - "$work/encode.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print(f"bytes {r['file_bytes']}, {r['bpp']:.4f} bpp, PSNR-YUV {r['psnr_yuv']:.2f} dB, "
      f"encode {r['encode_seconds']:.1f} s, peak host memory {r['peak_memory_mb']:.0f} MB")
PY
  echo
  uar -v quiet decode "$work/gpu.uar" -o "$work/gpu.y4m" --device cuda --json | python -c \
    "import json,sys; r=json.load(sys.stdin); print(f'decode on CUDA: {r[\"num_frames\"]} frames in {r[\"seconds\"]:.1f} s')"
} | tee "$out"
