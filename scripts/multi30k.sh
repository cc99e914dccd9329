#!/usr/bin/env bash
# Multi30k end to end: get the corpus, train, average the last checkpoints, and evaluate with
# beam search on test_2016_flickr and test_2017_flickr, printing cased sacreBLEU (13a, with
# signature), lowercased BLEU, chrF and the training wall time.
#
#   scripts/multi30k.sh de-en|en-de [LOCAL_MULTI30K_DIR] [-- extra nmt train flags]
#
# Environment: NMT_BIN (a built nmt to use instead of building one), RUN_DIR (where the run
# lives, runs/multi30k-<pair>; set it to keep several runs side by side), BEAM (5), LENPENS (the
# length penalties to try on validation: "0.6 1.0" for de-en, "1.0 1.5" for en-de, the grids
# each direction's figures in docs/results.md were picked with), COVERAGES (coverage penalties
# to try with each length penalty, "0" = off; e.g. "0 0.1 0.2": on En->De they won on val and
# lost on test, docs/results.md), AVERAGE (how many of the last checkpoints to average, each
# count one candidate, "3 5"), ENSEMBLE (how many of the last checkpoints to decode as an
# ensemble, each count one candidate; none by default: an ensemble of N decodes N times
# slower), and RAYON_NUM_THREADS for the flex backend's threads (docs/results.md: one
# direction at a time, 2 threads).
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
  de-en) src=de; tgt=en; default_lenpens="0.6 1.0" ;;
  # The post-norm En->De model's outputs run short (BP 0.965 at 1.0), so its grid goes higher.
  en-de) src=en; tgt=de; default_lenpens="1.0 1.5" ;;
  *) echo "unknown pair $pair: use de-en or en-de" >&2; exit 2 ;;
esac
config=configs/multi30k-$pair.toml
run=${RUN_DIR:-runs/multi30k-$pair}
beam=${BEAM:-5}
read -r -a lenpens <<<"${LENPENS:-$default_lenpens}"
read -r -a coverages <<<"${COVERAGES:-0}"
read -r -a averages <<<"${AVERAGE:-3 5}"
read -r -a ensembles <<<"${ENSEMBLE:-}"

scripts/get-multi30k.sh ${local_dir:+"$local_dir"}
if [ -z "${NMT_BIN:-}" ]; then cargo build --release; fi
nmt=${NMT_BIN:-target/release/nmt}

resume=()
[ -f "$run/checkpoints/latest" ] && resume=(--resume)
start=$(date +%s)
"$nmt" train --config "$config" --run-dir "$run" "${resume[@]}" "$@"
echo "training wall time this sitting: $(( $(date +%s) - start )) s (total: $(python3 -c "import json;print(round(json.load(open('$run/checkpoints/'+open('$run/checkpoints/latest').read().strip()+'/state.json'))['elapsed_s']))") s)"

# Which checkpoint and penalties to report is decided on the validation set, never on test:
# the best checkpoint by validation BLEU, the average of the last N checkpoints for each N in
# $AVERAGE, or the ensemble of the last N for each N in $ENSEMBLE, each with every length
# penalty in $LENPENS and coverage penalty in $COVERAGES, by beam-search BLEU on all of val.
# A candidate is one or more checkpoint paths joined by "|" (an ensemble), passed as one
# --checkpoint each.
zcat "data/multi30k/val.$src.gz" > "$run/val.$src"
zcat "data/multi30k/val.$tgt.gz" > "$run/val.$tgt"
candidates=(best)
count=$(ls -d "$run"/checkpoints/step-* 2>/dev/null | wc -l)
for n in "${averages[@]}"; do
  if [ "$n" -gt 1 ] && [ "$count" -ge "$n" ]; then
    candidates+=("$("$nmt" average --run "$run" --last "$n")")
  fi
done
chosen=best
lenpen=${lenpens[0]}
coverage=${coverages[0]}
chosen_bleu=-1
for n in "${ensembles[@]}"; do
  if [ "$n" -gt 1 ] && [ "$count" -ge "$n" ]; then
    candidates+=("$(ls -d "$run"/checkpoints/step-* | sort | tail -n "$n" | paste -sd '|')")
  fi
done
checkpoint_flags() {
  local parts c
  IFS='|' read -r -a parts <<<"$1"
  for c in "${parts[@]}"; do printf '%s\0%s\0' --checkpoint "$c"; done
}
for ckpt in $(printf '%s\n' "${candidates[@]}" | awk '!seen[$0]++'); do
  mapfile -d '' -t flags < <(checkpoint_flags "$ckpt")
  for lp in "${lenpens[@]}"; do
    for cp in "${coverages[@]}"; do
      "$nmt" translate --run "$run" "${flags[@]}" --beam "$beam" --lenpen "$lp" \
        --coverage-penalty "$cp" --input "$run/val.$src" --output "$run/val.hyp"
      bleu=$("$nmt" score --hyp "$run/val.hyp" --ref "$run/val.$tgt" --metrics bleu --json |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["bleu"])')
      echo "validation BLEU $bleu: checkpoint $ckpt (beam $beam, lenpen $lp, coverage $cp)"
      if python3 -c "import sys; sys.exit(0 if $bleu > $chosen_bleu else 1)"; then
        chosen=$ckpt
        lenpen=$lp
        coverage=$cp
        chosen_bleu=$bleu
      fi
    done
  done
done
echo "chosen on validation: $chosen, lenpen $lenpen, coverage $coverage"

for split in test_2016_flickr test_2017_flickr; do
  [ -f "data/multi30k/$split.$src.gz" ] || continue
  zcat "data/multi30k/$split.$src.gz" > "$run/$split.$src"
  zcat "data/multi30k/$split.$tgt.gz" > "$run/$split.$tgt"
  echo "== $pair $split, checkpoint $chosen, beam $beam, lenpen $lenpen, coverage $coverage"
  mapfile -d '' -t flags < <(checkpoint_flags "$chosen")
  "$nmt" translate --run "$run" "${flags[@]}" --beam "$beam" --lenpen "$lenpen" \
    --coverage-penalty "$coverage" --input "$run/$split.$src" --output "$run/$split.hyp"
  "$nmt" score --hyp "$run/$split.hyp" --ref "$run/$split.$tgt"
  echo "lowercased:"
  "$nmt" score --hyp "$run/$split.hyp" --ref "$run/$split.$tgt" --lowercase --metrics bleu
done
