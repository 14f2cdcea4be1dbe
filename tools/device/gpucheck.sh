#!/usr/bin/env bash
# On the lent GPU machine, in the repository root (the device tool's `run`), after tools/device/prepare.sh here:
#   run(command="bash tools/device/gpucheck.sh", carry=[".device-wheels"], timeout_s=540)
# Installs the carried wheels beside the image's torch (--no-deps --target: nothing of the image changes), then runs
# the engine's GPU check on the 26B-A4B shape with random weights (no download: the machine reaches no network) and
# the tiny model, and writes the JSON and the log under $OUT. GPU_MINUTES (default 7) bounds the 26B part.
set -uo pipefail
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/dd-out}
mkdir -p "$OUT"
site=/tmp/dd-site
python3 -m pip install -q --upgrade --no-deps --no-index --target "$site" .device-wheels/*.whl 2>&1 | tail -3
export PYTHONPATH="$site:$PWD"
{
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  python3 -c "import torch, transformers, torchao; print('torch', torch.__version__, 'cuda', torch.version.cuda, \
'transformers', transformers.__version__, 'torchao', torchao.__version__, \
torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'no CUDA device')"
} 2>&1 | tee "$OUT/env.txt"
timeout 60 python3 -m engine.gpucheck --model tiny --minutes 0.8 --json > "$OUT/gpucheck-tiny.json" \
    2> "$OUT/gpucheck-tiny.log"
echo "tiny rc=$?"; tail -c 1500 "$OUT/gpucheck-tiny.json"
timeout $(( ${GPU_MINUTES:-7} * 60 + 60 )) python3 -m engine.gpucheck --model diffusiongemma-26b-a4b-random \
    --minutes "${GPU_MINUTES:-7}" --json > "$OUT/gpucheck-26b.json" 2> "$OUT/gpucheck-26b.log"
echo "26b rc=$?"; tail -c 4000 "$OUT/gpucheck-26b.json"; tail -20 "$OUT/gpucheck-26b.log"
