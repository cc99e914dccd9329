#!/usr/bin/env bash
# Fetches Multi30k task 1 (raw, cased, untokenized) into data/multi30k/ as gzip files named
# as upstream names them: train.de.gz, val.en.gz, test_2016_flickr.fr.gz, ...
#
#   scripts/get-multi30k.sh              download from the multi30k/dataset repository on GitHub
#   scripts/get-multi30k.sh LOCAL_DIR    copy from a folder that already holds those files
#                                        (offline; e.g. ../shared/data/multi30k)
#
# Languages en, de, fr for train, val, test_2016_flickr, test_2017_flickr; cs for the splits
# that have it (train, val, test_2016_flickr). Files already present and intact are kept, so
# running it again does nothing. Set MULTI30K_OUT to write somewhere else than data/multi30k.
# Cite Elliott et al. 2016, "Multi30K: Multilingual English-German Image Descriptions".
set -euo pipefail

BASE_URL="https://github.com/multi30k/dataset/raw/master/data/task1/raw"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="${MULTI30K_OUT:-$ROOT/data/multi30k}"

die() { echo "get-multi30k: error: $*" >&2; exit 1; }

if [[ $# -gt 1 ]]; then
    die "usage: $0 [LOCAL_DIR]"
fi
SOURCE="${1:-}"
if [[ -n "$SOURCE" && ! -d "$SOURCE" ]]; then
    die "$SOURCE is not a directory (give a folder holding train.de.gz, val.de.gz, ...)"
fi
if [[ -z "$SOURCE" ]] && ! command -v curl >/dev/null 2>&1; then
    die "curl is not installed; install it, or pass a local folder that holds the files"
fi
command -v gzip >/dev/null 2>&1 || die "gzip is not installed"

FILES=()
for split in train val test_2016_flickr test_2017_flickr; do
    for lang in en de fr cs; do
        [[ "$split" == test_2017_flickr && "$lang" == cs ]] && continue  # no Czech upstream
        FILES+=("$split.$lang.gz")
    done
done

mkdir -p "$OUT"
fetched=0
kept=0
for name in "${FILES[@]}"; do
    target="$OUT/$name"
    if [[ -s "$target" ]] && gzip -t "$target" 2>/dev/null; then
        kept=$((kept + 1))
        continue
    fi
    partial="$target.partial"
    rm -f "$partial"
    if [[ -n "$SOURCE" ]]; then
        [[ -f "$SOURCE/$name" ]] || die "$SOURCE/$name is missing"
        cp "$SOURCE/$name" "$partial" || die "cannot copy $SOURCE/$name to $partial"
    else
        echo "downloading $name"
        curl --fail --location --silent --show-error --retry 3 \
            --output "$partial" "$BASE_URL/$name" \
            || { rm -f "$partial"; die "download of $BASE_URL/$name failed"; }
    fi
    gzip -t "$partial" 2>/dev/null || { rm -f "$partial"; die "$name is not a valid gzip file (truncated download?)"; }
    mv "$partial" "$target"
    fetched=$((fetched + 1))
done

# Line i of each language must translate line i of the others.
for split in train val test_2016_flickr test_2017_flickr; do
    expected=""
    for lang in en de fr cs; do
        [[ -f "$OUT/$split.$lang.gz" ]] || continue
        lines=$(gzip -dc "$OUT/$split.$lang.gz" | wc -l)
        if [[ -z "$expected" ]]; then
            expected=$lines
        elif [[ "$lines" != "$expected" ]]; then
            die "$OUT/$split.$lang.gz has $lines lines but $OUT/$split.en.gz has $expected"
        fi
    done
done

echo "Multi30k in $OUT: $fetched file(s) fetched, $kept already there (${#FILES[@]} in all)"
