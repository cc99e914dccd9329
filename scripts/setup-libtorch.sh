#!/usr/bin/env bash
# A virtualenv with PyTorch 2.9.0 from PyPI (the version burn-tch 0.22 / tch 0.22 expects),
# for the `tch` backend and for the PyTorch side of scripts/bench.sh. Nothing is downloaded
# from anywhere but PyPI: no pre-built libtorch archive.
#
#   scripts/setup-libtorch.sh [VENV_DIR]        (default .venv-torch; ~7 GB, the PyPI wheel is the CUDA build)
#   source VENV_DIR/nmt-tch.env                 then: cargo build --release --features tch
#
# The env file sets what the build and the binary need: LIBTORCH_USE_PYTORCH=1 (torch-sys finds
# libtorch through this venv's python instead of downloading it), the venv's python first on
# PATH, and LD_LIBRARY_PATH to torch/lib (else: "libtorch_cuda.so: cannot open shared object file").
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${1:-.venv-torch}

if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet "torch==2.9.0" numpy
torch_lib=$("$venv/bin/python" -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')
venv_abs=$(cd "$venv" && pwd)
cat > "$venv/nmt-tch.env" <<ENV
export VIRTUAL_ENV="$venv_abs"
export PATH="$venv_abs/bin:\$PATH"
export LIBTORCH_USE_PYTORCH=1
export LD_LIBRARY_PATH="$torch_lib\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}"
ENV
"$venv/bin/python" -c 'import torch; print("torch", torch.__version__, "cuda available:", torch.cuda.is_available())'
echo "wrote $venv/nmt-tch.env; use: source $venv/nmt-tch.env && cargo build --release --features tch"
