#!/usr/bin/env bash
# Tagged back-translation on Multi30k De->En, end to end (Caswell et al. 2019's tagged BT;
# Edunov et al. 2018's sampled synthetic sources):
#
#   1. Split train: the first $PARALLEL pairs are the parallel data; the English side of the
#      rest plays the monolingual target-language text (its German is never used).
#   2. Baseline De->En on the parallel part, with `<bt>` among its tokenizer's special tokens.
#   3. Reverse model En->De on the same parallel part.
#   4. Back-translate the held-back English with the reverse model, sampling (top-k 10), one
#      sample a sentence, seed 1: synthetic German, each line tagged `<bt> `.
#   5. Forward model fine-tuned from the baseline (`--init-from`, its tokenizer kept) on the
#      parallel pairs plus the tagged synthetic pairs.
#   6. Control: the baseline fine-tuned as long again on the parallel pairs alone, so that the
#      BT model's extra training time is not mistaken for the effect of the synthetic data.
#   7. Test BLEU (test_2016_flickr, greedy and beam 5) of the baseline, the control and the BT
#      model.
#
#   scripts/back-translate.sh [MINUTES_PER_MODEL]      # default 10
#
# Environment: NMT_BIN (default target/release/nmt), WORK (default runs/bt), PARALLEL (19000),
# SAMPLING (topk:10). Every run resumes if it already exists, so the script can be rerun after
# an interruption. Figures on 2 CPU cores are in docs/results.md.
set -euo pipefail
cd "$(dirname "$0")/.."

minutes=${1:-10}
hours=$(awk -v m="$minutes" 'BEGIN { printf "%.4f", m / 60 }')
nmt=${NMT_BIN:-target/release/nmt}
work=${WORK:-runs/bt}
parallel=${PARALLEL:-19000}
sampling=${SAMPLING:-topk:10}
[ -x "$nmt" ] || cargo build --release
scripts/get-multi30k.sh ../shared/data/multi30k >/dev/null 2>&1 || scripts/get-multi30k.sh
mkdir -p "$work/data"

echo "== 1. split train: $parallel parallel pairs, the rest's English as monolingual text" >&2
for l in de en; do
  # awk reads to the end (head would close the pipe early: SIGPIPE under pipefail).
  zcat "data/multi30k/train.$l.gz" | awk -v n="$parallel" 'NR <= n' >"$work/data/parallel.$l"
  zcat "data/multi30k/train.$l.gz" | awk -v n="$parallel" 'NR > n' >"$work/data/held.$l"
done
echo "parallel: $(wc -l <"$work/data/parallel.de") pairs; monolingual English: $(wc -l <"$work/data/held.en") lines" >&2

train() { # name config data-prefix extra-flags...
  local name=$1 config=$2 data=$3
  shift 3
  local resume=()
  [ -f "$work/$name/checkpoints/latest" ] && resume=(--resume)
  "$nmt" train --config "$config" --run-dir "$work/$name" --quiet "${resume[@]}" \
    --set "data.train=\"$data\"" --set "train.max_hours=$hours" "$@"
}

echo "== 2. baseline De->En ($minutes min)" >&2
train baseline configs/multi30k-de-en.toml "$work/data/parallel" \
  --set 'tokenizer.special_tokens=["<bt>"]'
echo "== 3. reverse En->De ($minutes min)" >&2
train reverse configs/multi30k-en-de.toml "$work/data/parallel"

echo "== 4. back-translate the held-back English ($sampling, seed 1)" >&2
if [ ! -s "$work/data/bt.de" ]; then
  "$nmt" translate --run "$work/reverse" --sampling "$sampling" --seed 1 \
    --input "$work/data/held.en" --output "$work/data/bt.raw.de"
  sed 's/^/<bt> /' "$work/data/bt.raw.de" >"$work/data/bt.de"
fi
cat "$work/data/parallel.de" "$work/data/bt.de" >"$work/data/mixed.de"
cat "$work/data/parallel.en" "$work/data/held.en" >"$work/data/mixed.en"

echo "== 5. forward De->En fine-tuned from the baseline on parallel + tagged BT ($minutes min)" >&2
train bt configs/multi30k-de-en.toml "$work/data/mixed" \
  --set 'tokenizer.special_tokens=["<bt>"]' --init-from "$work/baseline"

echo "== 6. control: the baseline fine-tuned on the parallel pairs alone ($minutes min)" >&2
train control configs/multi30k-de-en.toml "$work/data/parallel" \
  --set 'tokenizer.special_tokens=["<bt>"]' --init-from "$work/baseline"

echo "== 7. test_2016_flickr" >&2
for name in baseline control bt; do
  for beam in 1 5; do
    bleu=$("$nmt" eval --json --run "$work/$name" --beam "$beam" \
      --src data/multi30k/test_2016_flickr.de.gz --ref data/multi30k/test_2016_flickr.en.gz |
      python3 -c 'import json, sys; print(json.load(sys.stdin)["bleu_text"])')
    echo "$name beam $beam: $bleu"
  done
done
