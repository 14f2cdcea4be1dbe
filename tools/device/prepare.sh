#!/usr/bin/env bash
# Here (no GPU needed): fetch the wheels that the lent GPU machine's image lacks or has too old, into .device-wheels/
# (ignored by .gitignore, carried by the device tool). That image has Python 3.12, torch 2.11 and
# transformers 5.17 (/work/.library/device/KINDS.md); the engine needs transformers >= 5.23 and torchao 0.18.
# Then: run(command="bash tools/device/gpucheck.sh", carry=[".device-wheels"], timeout_s=540).
set -euo pipefail
cd "$(dirname "$0")/../.."
rm -rf .device-wheels && mkdir -p .device-wheels
python -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 --platform any -d .device-wheels \
    "transformers==5.24.0" "torchao==0.18.0" "platformdirs>=4" "keyring>=25" "jaraco.classes" "jaraco.functools" \
    "jaraco.context" "more-itertools"
ls -l .device-wheels
du -sh .device-wheels
