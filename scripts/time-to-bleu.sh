#!/usr/bin/env bash
# Time to BLEU on Multi30k De->En with the committed config: how many minutes of training
# (wall clock of `nmt train`, validation and checkpointing included, the clock `train.max_hours`
# counts) until a checkpoint reaches TARGET cased BLEU on test_2016_flickr with greedy decoding,
# and the BLEU of the checkpoint at AT minutes.
#
#   scripts/time-to-bleu.sh [MINUTES] [TARGET] [AT]     # defaults 50, 33.0, 30
#
# Trains configs/multi30k-de-en.toml for MINUTES (only checkpoint_every = 250 and keep_last are
# changed, so that there is a checkpoint every few minutes to score; the model, data, schedule
# and validation are the committed ones), then scores every checkpoint greedily on
# test_2016_flickr and prints a table: step, minutes (the checkpoint's `elapsed_s`), BLEU.
# The run resumes if it exists, so an interrupted script can be rerun.
#
# Environment: NMT_BIN (default target/release/nmt), WORK (default runs/time-to-bleu).
# Figures on 2 CPU cores are in docs/results.md.
set -euo pipefail
cd "$(dirname "$0")/.."

minutes=${1:-50}
target=${2:-33.0}
at=${3:-30}
nmt=${NMT_BIN:-target/release/nmt}
work=${WORK:-runs/time-to-bleu}
[ -x "$nmt" ] || cargo build --release
scripts/get-multi30k.sh ../shared/data/multi30k >/dev/null 2>&1 || scripts/get-multi30k.sh

resume=()
[ -f "$work/checkpoints/latest" ] && resume=(--resume)
hours=$(awk -v m="$minutes" 'BEGIN { printf "%.4f", m / 60 }')
echo "== training configs/multi30k-de-en.toml for $minutes minutes in $work" >&2
"$nmt" train --config configs/multi30k-de-en.toml --run-dir "$work" --quiet "${resume[@]}" \
  --set "train.max_hours=$hours" --set train.checkpoint_every=250 --set train.keep_last=1000

echo "== greedy test_2016_flickr BLEU of every checkpoint" >&2
table=$work/time-to-bleu.tsv
: >"$table"
for ck in "$work"/checkpoints/step-*; do
  elapsed=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["elapsed_s"])' "$ck/state.json")
  bleu=$("$nmt" eval --json --run "$work" --checkpoint "$ck" --beam 1 \
    --src data/multi30k/test_2016_flickr.de.gz --ref data/multi30k/test_2016_flickr.en.gz |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["bleu"])')
  step=$(basename "$ck" | sed 's/^step-0*//')
  printf '%s\t%s\t%s\n' "$step" "$elapsed" "$bleu" | tee -a "$table" >&2
done

python3 - "$table" "$target" "$at" <<'PY'
import sys
rows = sorted((int(s), float(e) / 60, float(b)) for s, e, b in
              (line.split("\t") for line in open(sys.argv[1]) if line.strip()))
target, at = float(sys.argv[2]), float(sys.argv[3])
print("| step | minutes | test_2016 BLEU (greedy, cased) |")
print("|---|---|---|")
for step, minutes, bleu in rows:
    print(f"| {step} | {minutes:.1f} | {bleu:.2f} |")
first = next((r for r in rows if r[2] >= target), None)
if first:
    print(f"first checkpoint at BLEU >= {target}: step {first[0]}, {first[1]:.1f} minutes, BLEU {first[2]:.2f}")
else:
    print(f"no checkpoint reached BLEU {target} (best {max(r[2] for r in rows):.2f})")
before = [r for r in rows if r[1] <= at]
if before:
    step, minutes, bleu = before[-1]
    print(f"at {at:g} minutes: step {step} ({minutes:.1f} minutes), BLEU {bleu:.2f}")
PY
