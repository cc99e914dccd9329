#!/usr/bin/env bash
# Builds, on a CPU machine with Rust, what scripts/gpu-check.sh needs on a GPU machine that has
# CUDA and PyTorch but no Rust toolchain and no network, into target/gpu-kit/ (ignored; carry
# it to the GPU machine together with the working tree):
#   nmt              the binary, `--features cuda`, stripped
#   backends-test    tests/backends.rs built with `--features cuda` (the flex/cuda parity test)
#   multi30k/        the Multi30k files the De->En check trains and tests on
#   torch_reference.py  the PyTorch side of the speed comparison (from ../shared/bench)
#
#   scripts/gpu-kit.sh [MULTI30K_DIR]     # default data/multi30k (scripts/get-multi30k.sh)
#
# CUDARC_CUDA_VERSION pins the CUDA API of the bindings (default 13000, the GPU machine's CUDA
# 13 toolkit): without nvcc here, cudarc would otherwise pick its newest.
# Building `cuda` needs network access to github.com once: cubecl-llvm's build dependency
# tracel-llvm-bundler downloads a prebuilt LLVM into ~/.cache/tracel (see docs/gpu.md).
set -euo pipefail
cd "$(dirname "$0")/.."
data=${1:-data/multi30k}
kit=target/gpu-kit
export CUDARC_CUDA_VERSION=${CUDARC_CUDA_VERSION:-13000}

cargo build --release --features cuda --bin nmt
test_bin=$(cargo test --release --features cuda --test backends --no-run --message-format=json 2>/dev/null |
  python3 -c 'import json,sys
for l in sys.stdin:
    m = json.loads(l)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "backends" and m.get("executable"):
        print(m["executable"])')
rm -rf "$kit"
mkdir -p "$kit/multi30k"
cp target/release/nmt "$kit/nmt"
cp "$test_bin" "$kit/backends-test"
strip "$kit/nmt" "$kit/backends-test"
cp ../shared/bench/torch_reference.py "$kit/"
for f in train val test_2016_flickr; do
  for l in de en; do
    cp "$data/$f.$l.gz" "$kit/multi30k/"
  done
done
du -sh "$kit"/*
echo "gpu-kit: ready in $kit (carry it: the device tool's carry [\"$kit\"]; then bash scripts/gpu-check.sh)"
