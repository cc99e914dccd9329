#!/usr/bin/env bash
# Decoding, nmt against CTranslate2 on the same model, inputs, beam and threads, in one shell.
#
#   scripts/bench-decode.sh RUN_DIR [INPUT] [ROUNDS] [THREADS]
#
# RUN_DIR: a trained run (e.g. runs/multi30k-de-en from configs/multi30k-de-en.toml; a short
# one: `nmt train --config configs/multi30k-de-en.toml --set train.max_hours=0.3`).
# INPUT: source sentences (default data/multi30k/test_2016_flickr.<src>.gz of the run's
# source language), REF beside it for BLEU.
#
# 1. Exports the run's best checkpoint to CTranslate2, float32 and int8
#    (target/bench-decode/<run>/ct2-float32, ct2-int8).
# 2. Agreement: `nmt translate` and CTranslate2 float32, greedy and beam 5, both with no length
#    normalisation (nmt --lenpen 0, CTranslate2 length_penalty 0) and nmt's own length caps:
#    the share of identical lines and both BLEU scores.
# 3. Speed: ROUNDS (default 3) alternating rounds of `nmt bench decode` and CTranslate2 float32
#    and int8, greedy and beam 5, THREADS threads each (default 2); target tokens/s (with </s>)
#    of the decoding alone, model loading and tokenization excluded; medians and the ratio
#    nmt / CTranslate2 float32. Batches of $BATCH_TOKENS (default 4096) source tokens on both
#    sides (nmt's budget counts the beam, so it is given BATCH_TOKENS * beam).
#
# Python: $CT2_PYTHON (default .venv-ct2/bin/python) with ctranslate2, tokenizers, safetensors,
# numpy (python3 -m venv .venv-ct2 && .venv-ct2/bin/pip install ctranslate2 tokenizers
# safetensors numpy).
set -euo pipefail
cd "$(dirname "$0")/.."

run=${1:?usage: scripts/bench-decode.sh RUN_DIR [INPUT] [ROUNDS] [THREADS]}
python=${CT2_PYTHON:-.venv-ct2/bin/python}
nmt=${NMT_BIN:-target/release/nmt}
rounds=${3:-3}
threads=${4:-2}
# The same batches on both sides: CTranslate2's max_batch_size (batch_type "tokens") counts
# source tokens, nmt's --max-tokens counts sentences * widest source * beam, so nmt gets the
# budget times the beam and both decode about the same sentences together.
batch_tokens=${BATCH_TOKENS:-4096}
[ -x "$nmt" ] || cargo build --release
src_lang=$(sed -n 's/^src_lang *= *"\(.*\)".*/\1/p' "$run/config.toml" | head -1)
tgt_lang=$(sed -n 's/^tgt_lang *= *"\(.*\)".*/\1/p' "$run/config.toml" | head -1)
input=${2:-data/multi30k/test_2016_flickr.$src_lang.gz}
ref=${input%.$src_lang.gz}.$tgt_lang.gz
[ "$ref" = "$input" ] && ref=${input%.$src_lang}.$tgt_lang

work=target/bench-decode/$(basename "$run")
mkdir -p "$work"
for q in float32 int8; do
  if [ ! -f "$work/ct2-$q/model.bin" ]; then
    rm -rf "$work/ct2-$q"
    quant=()
    [ "$q" = int8 ] && quant=(--quantization int8)
    "$nmt" export --run "$run" --format ctranslate2 --python "$python" "${quant[@]}" --output "$work/ct2-$q"
  fi
done
gunzip -c -f "$input" >"$work/input.txt"
gunzip -c -f "$ref" >"$work/ref.txt"   # nmt score reads plain text, as sacrebleu does
simd=$(grep -o -w -E 'avx512f|avx512_vnni|avx512_bf16|avx2|fma|amx_int8' /proc/cpuinfo | sort -u | tr '\n' ' ')
echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; SIMD: $simd; threads: $threads" >&2
echo "model: $run (best checkpoint); input: $input ($(wc -l <"$work/input.txt") lines)" >&2

echo "== agreement (no length normalisation, nmt's length caps)" >&2
for beam in 1 5; do
  RAYON_NUM_THREADS=$threads "$nmt" translate --run "$run" --beam "$beam" --lenpen 0 \
    --input "$work/input.txt" --output "$work/nmt.beam$beam.txt"
  "$python" scripts/ctranslate2_translate.py --model "$work/ct2-float32" --input "$work/input.txt" \
    --beam "$beam" --lenpen 0 --threads "$threads" --exact-caps --output "$work/ct2.beam$beam.txt"
  same=$(paste -d '\t' "$work/nmt.beam$beam.txt" "$work/ct2.beam$beam.txt" | awk -F '\t' '$1 == $2' | wc -l)
  total=$(wc -l <"$work/nmt.beam$beam.txt")
  bleu() { "$nmt" score --json --hyp "$1" --ref "$work/ref.txt" | python3 -c 'import json, sys; print("BLEU %.2f" % json.load(sys.stdin)["bleu"])'; }
  bleu_nmt=$(bleu "$work/nmt.beam$beam.txt")
  bleu_ct2=$(bleu "$work/ct2.beam$beam.txt")
  echo "beam $beam: $same of $total lines identical ($(awk -v s="$same" -v t="$total" 'BEGIN { printf "%.1f", 100 * s / t }')%); nmt $bleu_nmt, CTranslate2 $bleu_ct2"
done

echo "== speed: $rounds alternating rounds" >&2
out=$work/speed.jsonl
: >"$out"
for ((r = 1; r <= rounds; r++)); do
  for beam in 1 5; do
    RAYON_NUM_THREADS=$threads "$nmt" bench decode --run "$run" --input "$work/input.txt" \
      --beams "$beam" --lenpen 0 --max-tokens $((batch_tokens * beam)) | tee -a "$out"
    for q in float32 int8; do
      "$python" scripts/ctranslate2_translate.py --model "$work/ct2-$q" --input "$work/input.txt" \
        --beam "$beam" --lenpen 0 --threads "$threads" --compute-type "$q" --json \
        --max-batch-tokens "$batch_tokens" \
        --output /dev/null 2>&1 | grep '^{' | tee -a "$out"
    done
  done
done

python3 - "$out" <<'PY'
import json, statistics, sys
runs = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
by = {}
for r in runs:
    name = "nmt" if r["impl"] == "nmt" else "ctranslate2-" + r["compute_type"]
    by.setdefault((r["beam"], name), []).append(r["tgt_tokens_per_s"])
print("\n| beam | run | tgt tokens/s (median) | range | nmt / this |")
print("|---|---|---|---|---|")
for (beam, name) in sorted(by):
    vals = by[(beam, name)]
    nmt = statistics.median(by.get((beam, "nmt"), [float("nan")]))
    med = statistics.median(vals)
    print(f"| {beam} | {name} | {med:.0f} | {min(vals):.0f}-{max(vals):.0f} | {nmt / med:.2f}x |")
PY
