#!/usr/bin/env bash
# Builds collm with its `cuda` feature on a machine that has no system CUDA toolkit.
#
#   scripts/cuda-build.sh build --release          # target/release/collm, CUDA-enabled
#   scripts/cuda-build.sh test --no-run -p collm-llm
#   scripts/cuda-build.sh check --workspace         # the feature compiles (not in .ci/run: README)
#
# The arguments are cargo's; `--features cuda` is added. The CUDA 13.0 compiler, headers and the
# libraries candle links against (cudart, cuBLAS, cuBLASLt, cuRAND, NVRTC) come from NVIDIA's
# PyPI wheels, installed once into $CUDA_PREFIX (default target/cuda-toolkit, ~2 GB, ~700 MB
# download). The driver library libcuda.so ships only with a driver, so the linker gets a stub
# (lib/stubs/libcuda.so, as in NVIDIA's toolkit) named libcuda.so.1 inside, that exports the
# driver API and answers every call with CUDA_ERROR_NO_DEVICE; at run time the real driver's
# libcuda.so.1 is loaded instead. The CUDA binary therefore needs a driver to start: on machines
# without a GPU use the default (CPU) build.
#
# Environment:
#   CUDA_COMPUTE_CAP  the GPU generation to compile kernels for (default 90: H100/H200;
#                     80 for A100, 89 for L4/RTX 40xx). Kernels run only on that generation
#                     and newer ones, through the driver's JIT.
#   CUDA_PREFIX       where the toolkit goes (default target/cuda-toolkit).
#
# Running the binary needs the CUDA 13 runtime libraries on the library path, e.g. those of a
# PyTorch cu130 install:  export LD_LIBRARY_PATH=$(python3 -c 'import nvidia, os;
# print(os.path.dirname(nvidia.__path__[0]))')/nvidia/cu13/lib   (or this toolkit's lib folder).
set -euo pipefail
cd "$(dirname "$0")/.."

prefix="${CUDA_PREFIX:-$PWD/target/cuda-toolkit}"
cuda="$prefix/nvidia/cu13"
export CUDA_COMPUTE_CAP="${CUDA_COMPUTE_CAP:-90}"

# One version of each: CUDA 13.0, the toolkit the H200 machines' driver and PyTorch use.
packages=(
  "nvidia-cuda-nvcc==13.0.88" "nvidia-cuda-crt==13.0.88" "nvidia-nvvm==13.0.88"
  "nvidia-cuda-cccl==13.0.85" "nvidia-cuda-runtime==13.0.96" "nvidia-cuda-nvrtc==13.0.88"
  "nvidia-cublas==13.0.2.14" "nvidia-curand==10.4.0.35"
)

if [ ! -x "$cuda/bin/nvcc" ]; then
  echo "cuda-build: installing the CUDA 13.0 toolkit wheels into $prefix" >&2
  python3 -m pip install --quiet --no-deps --no-compile --target "$prefix" "${packages[@]}"
  # The linker looks for unversioned names; the wheels ship only the versioned ones.
  for lib in cudart cublas cublasLt curand nvrtc; do
    versioned=$(cd "$cuda/lib" && ls "lib$lib.so."* | head -n 1)
    ln -sf "$versioned" "$cuda/lib/lib$lib.so"
  done
fi
if [ ! -e "$cuda/lib/stubs/libcuda.so" ]; then
  # Stub driver library: every driver-API function cudarc declares, each returning
  # CUDA_ERROR_NO_DEVICE (100).
  # (`|| true`: under pipefail a glob that matches nothing would end the script here.)
  cudarc=$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/cudarc-0.19.* 2>/dev/null | tail -n 1 || true)
  if [ -z "$cudarc" ]; then
    cargo fetch --quiet
    cudarc=$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/cudarc-0.19.* | tail -n 1)
  fi
  sed -n 's/^pub unsafe fn \(cu[A-Za-z0-9_]*\)(.*/int \1(void) { return 100; }/p' \
    "$cudarc/src/driver/sys/mod.rs" | sort -u >"$prefix/libcuda-stub.c"
  mkdir -p "$cuda/lib/stubs"
  cc -shared -fPIC -Wl,-soname,libcuda.so.1 -o "$cuda/lib/stubs/libcuda.so" "$prefix/libcuda-stub.c"
fi

export CUDA_HOME="$cuda" CUDA_PATH="$cuda" NVCC="$cuda/bin/nvcc"
export PATH="$cuda/bin:$PATH"
export LIBRARY_PATH="$cuda/lib:$cuda/lib/stubs${LIBRARY_PATH:+:$LIBRARY_PATH}"

cargo "$@" --features cuda
