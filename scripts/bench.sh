#!/usr/bin/env bash
# Training throughput, nmt against PyTorch, in one shell: alternating runs of
# ../shared/bench/torch_reference.py and `nmt bench train` at the same shape, then the ratio
# nmt/PyTorch of target tokens per second (median of the runs) per backend.
#
#   scripts/bench.sh [ROUNDS] [-- extra flags for both, e.g. --steps 20 --threads 2]
#
# PyTorch comes from a virtualenv with torch==2.9.0: $TORCH_VENV (default .venv-torch, as made
# by scripts/setup-libtorch.sh). Without one, only nmt's figures are printed.
# nmt is $NMT_BIN (default target/release/nmt); every backend it was built with and this machine
# can use is measured (flex; tch from a `--features tch` build; wgpu only on a real GPU, since
# on Mesa's software driver it is a smoke test, not a speed), or the list in $BACKENDS.
set -euo pipefail
cd "$(dirname "$0")/.."

rounds=${1:-3}
shift || true
[ "${1:-}" = "--" ] && shift
extra=("$@")

venv=${TORCH_VENV:-.venv-torch}
reference=${TORCH_REFERENCE:-../shared/bench/torch_reference.py}
nmt=${NMT_BIN:-target/release/nmt}
[ -x "$nmt" ] || cargo build --release

if [ -n "${BACKENDS:-}" ]; then
  read -r -a backends <<<"$BACKENDS"
else
  devices=$("$nmt" devices)
  backends=(flex)
  grep -q '^tch .*built in' <<<"$devices" && backends+=(tch)
  grep -q '^tch-cuda:0 .*usable here' <<<"$devices" && backends+=(tch-cuda)
  if grep -q '^wgpu .*usable here' <<<"$devices" && nvidia-smi -L >/dev/null 2>&1; then
    backends+=(wgpu)
  fi
fi

out=$(mktemp)
echo "machine: $(lscpu | sed -n 's/^Model name: *//p') x $(nproc) cores" >&2
for ((r = 1; r <= rounds; r++)); do
  if [ -x "$venv/bin/python" ] && [ -f "$reference" ]; then
    "$venv/bin/python" "$reference" "${extra[@]}" | tee -a "$out"
  fi
  for b in "${backends[@]}"; do
    "$nmt" bench train --device "$b" "${extra[@]}" | tee -a "$out"
  done
done

python3 - "$out" <<'PY'
import json, statistics, sys
runs = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
by = {}
for r in runs:
    key = "pytorch" if r["impl"] == "pytorch" else "nmt-" + r["backend"]
    by.setdefault(key, []).append(r)
med = {k: statistics.median(x["tgt_tokens_per_s"] for x in v) for k, v in by.items()}
rss = {k: max(x["peak_rss_mib"] or 0 for x in v) for k, v in by.items()}
print("\n| run | tgt tokens/s (median) | peak RSS MiB | ratio vs PyTorch |")
print("|---|---|---|---|")
for k in sorted(med):
    ratio = f"{med[k] / med['pytorch']:.2f}x" if "pytorch" in med else "n/a"
    print(f"| {k} | {med[k]:.0f} | {rss[k]:.0f} | {ratio} |")
PY
rm -f "$out"
