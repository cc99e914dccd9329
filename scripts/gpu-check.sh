#!/usr/bin/env bash
# Every GPU check in one script, for a machine with an NVIDIA GPU, the CUDA toolkit and PyTorch
# but no Rust toolchain and no network. It runs what scripts/gpu-kit.sh built beforehand on a
# CPU machine (target/gpu-kit: `nmt` and the parity test built with `--features cuda`, the
# Multi30k files) and writes its figures to $OUT (default target/gpu-check-out):
#
#   1. nvidia-smi and `nmt devices`
#   2. the backend parity test: flex and cuda agree on the loss and one Adam step
#   3. `nmt bench train` against ../shared/bench/torch_reference.py at the Transformer-base
#      shape, f32 then bf16, alternating, same flags (--device cuda, --amp none|bf16)
#   4. the quick start trained on cuda: its test BLEU
#   5. time permitting: Multi30k De->En for up to 5 minutes on cuda bf16, its test_2016 BLEU
#
#   bash scripts/gpu-check.sh              # on the GPU machine, from the repository root
#   GPU_CHECK_DEVICE=flex GPU_CHECK_BUDGET_S=300 bash scripts/gpu-check.sh   # dry run on a CPU
#
# The whole script keeps within $GPU_CHECK_BUDGET_S (default 470 s: the device tool's limit
# leaves room to rerun). Each step is bounded by `timeout`; a step that fails or times out is
# recorded as such in the summary and the script goes on.
set -uo pipefail
cd "$(dirname "$0")/.."

kit=${GPU_KIT:-target/gpu-kit}
out=${OUT:-target/gpu-check-out}
device=${GPU_CHECK_DEVICE:-cuda}
budget=${GPU_CHECK_BUDGET_S:-470}
python=${PYTHON:-python3}
mkdir -p "$out"
summary=$out/summary.md
start=$(date +%s)
left() { echo $((budget - ($(date +%s) - start))); }
note() { echo "$*" | tee -a "$summary"; }

case $device in
  cuda*) torch_device=cuda; base_steps=50; base_warmup=10 ;;
  *) torch_device=cpu; base_steps=3; base_warmup=1 ;; # a dry run on a CPU checks the flow only
esac
nmt=$kit/nmt
[ -x "$nmt" ] || nmt=target/release/nmt
reference=$kit/torch_reference.py
[ -f "$reference" ] || reference=../shared/bench/torch_reference.py
data=$kit/multi30k
[ -d "$data" ] || data=data/multi30k

: >"$summary"
note "# nmt GPU check, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
note ""
note "device: $device; binary: $nmt; budget: ${budget}s"
note ""

echo "== 1. the machine and nmt devices" >&2
{ nvidia-smi || echo "nvidia-smi: not found"; } >"$out/nvidia-smi.txt" 2>&1
"$nmt" devices >"$out/devices.txt" 2>&1
note "## nmt devices"
note '```'
cat "$out/devices.txt" >>"$summary"
note '```'
note "GPU: $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null || echo none)"

echo "== 2. parity: flex and $device agree on the loss and one Adam step" >&2
if [ -x "$kit/backends-test" ]; then
  NMT_BIN=$nmt NMT_ROOT=$PWD timeout 120 "$kit/backends-test" --test-threads 1 --nocapture \
    cuda >"$out/parity.txt" 2>&1
  note "## parity test (tests/backends.rs, cuda): exit $? ($(grep -E '^test result' "$out/parity.txt" | tail -1))"
else
  note "## parity test: skipped, no $kit/backends-test (scripts/gpu-kit.sh builds it)"
fi

echo "== 3. training throughput at the Transformer-base shape, nmt against PyTorch" >&2
base=(--vocab 32000 --d-model 512 --heads 8 --ff 2048 --enc-layers 6 --dec-layers 6
  --batch 32 --src-len 32 --tgt-len 32 --steps "$base_steps" --warmup "$base_warmup")
bench=$out/bench.jsonl
: >"$bench"
for round in 1 2; do
  for precision in f32 bf16; do
    amp=$([ "$precision" = f32 ] && echo none || echo "$precision")
    [ "$(left)" -gt 200 ] || break 2
    timeout 90 "$python" "$reference" "${base[@]}" --device "$torch_device" --amp "$amp" \
      >>"$bench" 2>>"$out/bench.err" || echo "torch $precision round $round failed ($?)" >>"$out/bench.err"
    timeout 90 "$nmt" bench train --preset base "${base[@]}" --device "$device" \
      --precision "$precision" >>"$bench" 2>>"$out/bench.err" ||
      echo "nmt $precision round $round failed ($?)" >>"$out/bench.err"
  done
done
note "## training throughput, Transformer-base (target tokens/s, best of the rounds)"
"$python" - "$bench" >>"$summary" <<'PY'
import json, sys
runs = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
best = {}
for r in runs:
    prec = r.get("precision") or {"none": "f32"}.get(r.get("amp"), r.get("amp"))
    key = (r["impl"], prec)
    best[key] = max(best.get(key, 0), r["tgt_tokens_per_s"])
print("| precision | nmt | PyTorch | nmt/PyTorch |\n|---|---|---|---|")
for prec in ("f32", "bf16"):
    n, t = best.get(("nmt", prec)), best.get(("pytorch", prec))
    ratio = f"{n / t:.2f}x" if n and t else "not measured"
    print(f"| {prec} | {n or 'failed'} | {t or 'failed'} | {ratio} |")
print(f"\n{len(runs)} runs; every run in bench.jsonl")
PY

echo "== 4. the quick start on $device" >&2
qs_limit=$(($(left) - 150))
[ "$qs_limit" -gt 200 ] && qs_limit=200
if [ "$qs_limit" -gt 30 ]; then
  timeout "$qs_limit" "$nmt" train --config configs/quickstart.toml --device "$device" --quiet \
    --run-dir "$out/quickstart" --overwrite \
    --set "train.max_hours=$(awk -v s="$((qs_limit - 20))" 'BEGIN { printf "%.4f", s / 3600 }')" \
    >"$out/quickstart.txt" 2>&1
  note "## quick start on $device: exit $?"
  note '```'
  tail -n 4 "$out/quickstart.txt" >>"$summary"
  note '```'
else
  note "## quick start: skipped, $(left)s left"
fi

echo "== 5. Multi30k De->En on $device bf16, time permitting" >&2
m_secs=$(($(left) - 70))
[ "$m_secs" -gt 300 ] && m_secs=300
if [ "$m_secs" -gt 60 ] && [ -f "$data/train.de.gz" ]; then
  timeout $((m_secs + 60)) "$nmt" train --config configs/multi30k-de-en.toml --device "$device" \
    --quiet --run-dir "$out/multi30k-de-en" --overwrite \
    --set "data.train=\"$data/train\"" --set "data.valid=\"$data/val\"" \
    --set "data.test=\"$data/test_2016_flickr\"" --set 'train.precision="bf16"' \
    --set "train.max_hours=$(awk -v s="$m_secs" 'BEGIN { printf "%.4f", s / 3600 }')" \
    >"$out/multi30k.txt" 2>&1
  note "## Multi30k De->En, $device bf16, ${m_secs}s of training: exit $?"
  note '```'
  tail -n 4 "$out/multi30k.txt" >>"$summary"
  note '```'
else
  note "## Multi30k De->En: skipped, $(left)s left"
fi

note ""
note "total: $(($(date +%s) - start))s"
cat "$summary"
