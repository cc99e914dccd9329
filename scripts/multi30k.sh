#!/usr/bin/env bash
# Multi30k end to end: get the corpus, train, average the last checkpoints, and evaluate with
# beam search on test_2016_flickr and test_2017_flickr, printing cased sacreBLEU (13a, with
# signature), lowercased BLEU, chrF and the training wall time.
#
#   scripts/multi30k.sh de-en|en-de [LOCAL_MULTI30K_DIR] [-- extra nmt train flags]
#
# With LOCAL_MULTI30K_DIR (on our machines ../shared/data/multi30k) nothing is downloaded.
# Training resumes if the run directory already holds a run, so the script can be rerun
# after an interruption and continues where it stopped.
set -euo pipefail
cd "$(dirname "$0")/.."

pair=${1:?usage: scripts/multi30k.sh de-en|en-de [LOCAL_DIR] [-- train flags]}
shift
local_dir=""
if [ $# -gt 0 ] && [ "$1" != "--" ]; then local_dir=$1; shift; fi
[ "${1:-}" = "--" ] && shift
case "$pair" in
  de-en) src=de; tgt=en ;;
  en-de) src=en; tgt=de ;;
  *) echo "unknown pair $pair: use de-en or en-de" >&2; exit 2 ;;
esac
config=configs/multi30k-$pair.toml
run=runs/multi30k-$pair
beam=${BEAM:-5}
lenpen=${LENPEN:-0.6}
average=${AVERAGE:-5}

scripts/get-multi30k.sh ${local_dir:+"$local_dir"}
cargo build --release
nmt=target/release/nmt

resume=()
[ -f "$run/checkpoints/latest" ] && resume=(--resume)
start=$(date +%s)
"$nmt" train --config "$config" "${resume[@]}" "$@"
echo "training wall time this sitting: $(( $(date +%s) - start )) s (total: $(python3 -c "import json;print(round(json.load(open('$run/checkpoints/'+open('$run/checkpoints/latest').read().strip()+'/state.json'))['elapsed_s']))") s)"

checkpoint=best
count=$(ls -d "$run"/checkpoints/step-* 2>/dev/null | wc -l)
if [ "$average" -gt 1 ] && [ "$count" -ge "$average" ]; then
  checkpoint=$("$nmt" average --run "$run" --last "$average")
fi

for split in test_2016_flickr test_2017_flickr; do
  [ -f "data/multi30k/$split.$src.gz" ] || continue
  zcat "data/multi30k/$split.$src.gz" > "$run/$split.$src"
  zcat "data/multi30k/$split.$tgt.gz" > "$run/$split.$tgt"
  for ckpt in best "$checkpoint"; do
    echo "== $pair $split, checkpoint $ckpt, beam $beam, lenpen $lenpen"
    "$nmt" translate --run "$run" --checkpoint "$ckpt" --beam "$beam" --lenpen "$lenpen" \
      --input "$run/$split.$src" --output "$run/$split.hyp"
    "$nmt" score --hyp "$run/$split.hyp" --ref "$run/$split.$tgt"
    echo "lowercased:"
    "$nmt" score --hyp "$run/$split.hyp" --ref "$run/$split.$tgt" --lowercase --metrics bleu
    [ "$checkpoint" = best ] && break
  done
done
