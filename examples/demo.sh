#!/usr/bin/env bash
# The main job on the bundled sample: encode, decode, measure. Writes into out/.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p out
uar encode examples/carphone_qcif_30f.y4m -o out/demo.uar -p 10 -m 3 --model hnerv --size 30k --preset medium -y
uar info out/demo.uar
uar decode out/demo.uar -o out/demo.y4m -y
uar compare examples/carphone_qcif_30f.y4m out/demo.y4m --stream out/demo.uar
