#!/usr/bin/env python3
"""Time Hugging Face `tokenizers` (Python) encoding text, the reference for the encoding
step of the `nmt prepare` benchmark in docs/benchmarks.md.

It loads a tokenizer.json with `Tokenizer.from_file`, reads the first --lines lines of the
given files (plain or .gz; the reading is not timed, lines are kept without their newline),
and times `encode_batch(chunk, add_special_tokens=False)` over chunks of --chunk lines, as a
streaming encoder would. Padding and truncation stored in the tokenizer.json are switched
off so that the token count is the number of ids the text encodes to; the ids of each
encoding are fetched (`enc.ids`) and counted inside the timing, as a consumer would. One JSON line per
round is printed:

    {"impl": "python-tokenizers", "version": "0.23.3", "threads": 2, "lines": 20000,
     "tokens": ..., "seconds": ..., "lines_per_s": ..., "tokens_per_s": ...}

Threads: `tokenizers` runs encode_batch on rayon's global pool, whose size rayon-core reads
from RAYON_NUM_THREADS, or, when that is unset, from the deprecated RAYON_RS_NUM_CPUS
(the variable the tokenizers docs and issues name), when the pool starts. This script sets
both to --threads before importing `tokenizers`, and TOKENIZERS_PARALLELISM=true so that
the batch is encoded in parallel.

Setup and use, from the repository root (/.venv* is ignored by git):

    python3 -m venv .venv-tokenizers && .venv-tokenizers/bin/pip install tokenizers
    .venv-tokenizers/bin/python scripts/bench-tokenizers.py --tokenizer runs/x/tokenizer.json \\
        --threads 2 --lines 1000000 --rounds 3 target/synthetic-wmt14/train.en target/synthetic-wmt14/train.de

Lines are taken from the files in order: with --lines N and two files of M lines, all M of
the first and N - M of the second (fewer if the files hold fewer lines in all).
"""

import argparse
import gzip
import json
import os
import sys
import time


def read_lines(paths, limit):
    lines = []
    for path in paths:
        if len(lines) >= limit:
            break
        opener = gzip.open if path.endswith(".gz") else open
        with opener(path, "rt", encoding="utf-8", newline="") as f:
            for line in f:
                lines.append(line.rstrip("\r\n"))
                if len(lines) >= limit:
                    break
    return lines


def main():
    ap = argparse.ArgumentParser(description="Time Python tokenizers' encode_batch on text files.")
    ap.add_argument("files", nargs="+", help="text files, plain or .gz, one sentence a line")
    ap.add_argument("--tokenizer", required=True, help="tokenizer.json (Hugging Face format)")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="rayon pool size (default: all CPUs)")
    ap.add_argument("--lines", type=int, default=1_000_000, help="lines to encode (default 1,000,000)")
    ap.add_argument("--chunk", type=int, default=10_000, help="lines per encode_batch call (default 10,000)")
    ap.add_argument("--rounds", type=int, default=1, help="timed rounds, one JSON line each (default 1)")
    ap.add_argument("--fast", action="store_true",
                    help="encode_batch_fast (no character offsets, as nmt encodes) instead of encode_batch")
    args = ap.parse_args()
    if args.threads < 1 or args.lines < 1 or args.chunk < 1 or args.rounds < 1:
        ap.error("--threads, --lines, --chunk and --rounds must be at least 1")

    # Before the import (rayon reads these when its global pool starts, at the first
    # parallel call; set here so nothing the import does can start it earlier).
    os.environ["RAYON_NUM_THREADS"] = str(args.threads)
    os.environ["RAYON_RS_NUM_CPUS"] = str(args.threads)
    os.environ["TOKENIZERS_PARALLELISM"] = "true"
    import tokenizers
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(args.tokenizer)
    tokenizer.no_padding()
    tokenizer.no_truncation()

    lines = read_lines(args.files, args.lines)
    if not lines:
        sys.exit("bench-tokenizers: no lines read")
    chunks = [lines[i:i + args.chunk] for i in range(0, len(lines), args.chunk)]
    encode_batch = tokenizer.encode_batch_fast if args.fast else tokenizer.encode_batch

    for _ in range(args.rounds):
        tokens = 0
        start = time.perf_counter()
        for chunk in chunks:
            for enc in encode_batch(chunk, add_special_tokens=False):
                tokens += len(enc.ids)
        seconds = time.perf_counter() - start
        print(json.dumps({
            "impl": "python-tokenizers",
            "method": "encode_batch_fast" if args.fast else "encode_batch",
            "version": tokenizers.__version__,
            "threads": args.threads,
            "lines": len(lines),
            "tokens": tokens,
            "seconds": round(seconds, 4),
            "lines_per_s": round(len(lines) / seconds, 1),
            "tokens_per_s": round(tokens / seconds, 1),
        }), flush=True)


if __name__ == "__main__":
    main()
