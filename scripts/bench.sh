#!/usr/bin/env bash
# Training throughput, nmt against PyTorch, in one shell: alternating runs of
# ../shared/bench/torch_reference.py and `nmt bench train` (which times the step `nmt train`
# runs) at the same shape, then per shape and backend the median target tokens/s, peak RSS and
# the ratio nmt/PyTorch. Prints the machine (lscpu model and SIMD flags) above the table.
#
#   scripts/bench.sh [ROUNDS] [PRESETS] [-- extra flags for both, e.g. --steps 20 --threads 2]
#
# PRESETS: a space-separated list of tiny, default, base (or "all"; default "default"):
#   tiny     --vocab 10000 --d-model 128 --heads 4 --ff 256 --enc-layers 4 --dec-layers 4 --batch 128
#   default  torch_reference.py's own defaults (vocab 8000, d_model 256, 3+3 layers, batch 64)
#   base     --vocab 32000 --d-model 512 --heads 8 --ff 2048 --enc-layers 6 --dec-layers 6
#            --batch 32 --src-len 32 --tgt-len 32   (Transformer-base)
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
presets=default
if [ $# -gt 0 ] && [ "$1" != "--" ]; then
  presets=$1
  shift
fi
[ "$presets" = all ] && presets="tiny default base"
[ "${1:-}" = "--" ] && shift
extra=("$@")

shape_flags() {
  case $1 in
    tiny) echo "--vocab 10000 --d-model 128 --heads 4 --ff 256 --enc-layers 4 --dec-layers 4 --batch 128" ;;
    default) echo "" ;;
    base) echo "--vocab 32000 --d-model 512 --heads 8 --ff 2048 --enc-layers 6 --dec-layers 6 --batch 32 --src-len 32 --tgt-len 32" ;;
    *) echo "bench.sh: unknown preset $1 (tiny, default, base, all)" >&2; exit 2 ;;
  esac
}

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
simd=$(grep -o -w -E 'avx512f|avx512bw|avx512_bf16|avx512_fp16|avx2|fma|amx_bf16' /proc/cpuinfo | sort -u | tr '\n' ' ')
echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores, $(free -g | awk '/^Mem:/ {print $2}') GiB; SIMD: $simd" >&2
for ((r = 1; r <= rounds; r++)); do
  for p in $presets; do
    read -r -a flags <<<"$(shape_flags "$p")"
    if [ -x "$venv/bin/python" ] && [ -f "$reference" ]; then
      "$venv/bin/python" "$reference" "${flags[@]}" "${extra[@]}" | sed "s/^{/{\"preset\": \"$p\", /" | tee -a "$out"
    fi
    for b in "${backends[@]}"; do
      "$nmt" bench train --preset "$p" --device "$b" "${flags[@]}" "${extra[@]}" | tee -a "$out"
    done
  done
done

python3 - "$out" <<'PY'
import json, statistics, sys
runs = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
by = {}
for r in runs:
    impl = "pytorch" if r["impl"] == "pytorch" else "nmt-" + r["backend"]
    by.setdefault((r["preset"], impl), []).append(r)
med = {k: statistics.median(x["tgt_tokens_per_s"] for x in v) for k, v in by.items()}
rss = {k: max(x["peak_rss_mib"] or 0 for x in v) for k, v in by.items()}
print("\n| shape | run | tgt tokens/s (median) | range | peak RSS MiB | ratio vs PyTorch |")
print("|---|---|---|---|---|---|")
for (preset, impl) in sorted(med):
    vals = [x["tgt_tokens_per_s"] for x in by[(preset, impl)]]
    ref = med.get((preset, "pytorch"))
    ratio = f"{med[(preset, impl)] / ref:.2f}x" if ref else "n/a"
    print(f"| {preset} | {impl} | {med[(preset, impl)]:.0f} | {min(vals):.0f}-{max(vals):.0f} | {rss[(preset, impl)]:.0f} | {ratio} |")
PY
rm -f "$out"
