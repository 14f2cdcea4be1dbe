#!/usr/bin/env bash
# Build the one-folder bundle with PyInstaller, then run the bundled binary's --self-test.
# Usage: packaging/build.sh            (needs `pip install pyinstaller` and the app's dependencies)
#        CLEAN=0 packaging/build.sh    (reuse PyInstaller's analysis cache: minutes instead of a quarter hour)
#        SELF_TEST_MODEL=tiny packaging/build.sh   (the bundled self-test's model; default: the embedded demo)
# Output: build/dist/diffusion-desk/   (the app; ship the whole folder), build/bundle-self-test/report.json
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
DIST=$ROOT/build/dist
WORK=$ROOT/build/pyinstaller
start=$(date +%s)
python -m PyInstaller --noconfirm $([ "${CLEAN:-1}" = 0 ] || echo --clean) --log-level WARN --distpath "$DIST" --workpath "$WORK" packaging/diffusion-desk.spec
built=$(date +%s)
echo "build time: $((built - start)) s"
echo "bundle size: $(du -sh "$DIST/diffusion-desk" | cut -f1)"

# The self-test runs in a throwaway portable home, outside the checkout, so it can only use what the bundle holds.
home=$(mktemp -d)
out=$ROOT/build/bundle-self-test
rm -rf "$out"
binary="$DIST/diffusion-desk/diffusion-desk"
[ -x "$binary" ] || binary="$DIST/diffusion-desk/diffusion-desk.exe"
(cd "$home" && env -u DISPLAY -u WAYLAND_DISPLAY QT_QPA_PLATFORM=offscreen DIFFUSION_DESK_HOME="$home" \
    "$binary" --self-test "$out" ${SELF_TEST_MODEL:+--model "$SELF_TEST_MODEL"})
echo "self-test time: $(($(date +%s) - built)) s"
echo "bundled self-test passed: $out/report.json"
