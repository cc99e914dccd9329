#!/usr/bin/env python3
"""Translates a file with a CTranslate2 model made by `nmt export --format ctranslate2`,
tokenizing as nmt does (the model directory's tokenizer.json through the `tokenizers` package),
so that its output can be compared with `nmt translate` line for line and its speed with
`nmt bench decode`.

    python3 scripts/ctranslate2_translate.py --model CT2_DIR --input test.en [--beam 5]
        [--threads 2] [--compute-type float32|int8] [--lenpen 0] [--output F] [--json]

Hypotheses go to --output (default stdout); with --json one line of timing figures goes to
stderr: target tokens (with </s>, as nmt bench decode counts them) per second of
translate_batch, model loading and tokenization excluded.

Needs: pip install ctranslate2 tokenizers
"""

import argparse
import gzip
import json
import os
import sys
import time

import ctranslate2
from tokenizers import Tokenizer

RESERVED = 4  # <pad> <s> </s> <unk>: nmt's decode drops them from the text


def read_lines(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as f:
        # nmt's normalize_line: whitespace runs (and U+2581) become one space, ends trimmed.
        return [" ".join(line.replace("\u2581", " ").split()) for line in f.read().splitlines()]


def tokenizers_of(model_dir):
    joint = os.path.join(model_dir, "tokenizer.json")
    if os.path.exists(joint):
        t = Tokenizer.from_file(joint)
        return t, t
    return (Tokenizer.from_file(os.path.join(model_dir, "tokenizer.src.json")),
            Tokenizer.from_file(os.path.join(model_dir, "tokenizer.tgt.json")))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True)
    p.add_argument("--input", required=True)
    p.add_argument("--output")
    p.add_argument("--beam", type=int, default=1)
    p.add_argument("--lenpen", type=float, default=0.0,
                   help="CTranslate2's length_penalty (score / length^lenpen); 0 = raw log-probability, as nmt --lenpen 0")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--compute-type", default="float32")
    p.add_argument("--max-batch-tokens", type=int, default=4096)
    p.add_argument("--max-len-a", type=float, default=1.2)
    p.add_argument("--max-len-b", type=int, default=10)
    p.add_argument("--exact-caps", action="store_true",
                   help="give each sentence nmt's own length cap, floor(a * source tokens + b), by "
                        "translating sentences of equal cap together (for agreement checks; without "
                        "it one call uses the largest cap, which is what the speed comparison times)")
    p.add_argument("--json", action="store_true")
    a = p.parse_args()

    src_tok, tgt_tok = tokenizers_of(a.model)
    with open(os.path.join(a.model, "nmt-config.json")) as f:
        max_positions = json.load(f)["model"]["max_positions"]
    lines = read_lines(a.input)
    # As nmt: the source cut to what the position table holds (then </s>), and no output
    # longer than the target table allows.
    batch = [src_tok.encode(line, add_special_tokens=False).tokens[:max_positions - 1]
             for line in lines]
    translator = ctranslate2.Translator(a.model, device="cpu", compute_type=a.compute_type,
                                        intra_threads=a.threads, inter_threads=1)
    caps = [min(int(a.max_len_a * len(tokens) + a.max_len_b), max_positions - 1) for tokens in batch]
    groups = {}
    if a.exact_caps:
        for i, cap in enumerate(caps):
            groups.setdefault(cap, []).append(i)
    else:
        groups[max(caps)] = list(range(len(batch)))
    results = [None] * len(batch)
    start = time.perf_counter()
    for cap, members in groups.items():
        out = translator.translate_batch(
            [batch[i] for i in members], beam_size=a.beam, length_penalty=a.lenpen,
            max_batch_size=a.max_batch_tokens, batch_type="tokens", max_decoding_length=cap,
            suppress_sequences=[["<pad>"], ["<s>"]])
        for i, r in zip(members, out):
            results[i] = r
    secs = time.perf_counter() - start

    out = open(a.output, "w", encoding="utf-8") if a.output else sys.stdout
    tokens = 0
    for source, r in zip(batch, results):
        hyp = r.hypotheses[0]
        tokens += len(hyp) + 1
        ids = [tgt_tok.token_to_id(t) for t in hyp]
        ids = [i for i in ids if i is not None and i >= RESERVED]
        out.write((tgt_tok.decode(ids, skip_special_tokens=False) if source else "") + "\n")
    if a.output:
        out.close()
    if a.json:
        print(json.dumps({
            "bench": "decode", "impl": "ctranslate2", "ctranslate2": ctranslate2.__version__,
            "compute_type": a.compute_type, "beam": a.beam, "threads": a.threads,
            "sentences": len(lines), "tgt_tokens": tokens, "seconds": round(secs, 3),
            "sentences_per_s": round(len(lines) / secs, 1),
            "tgt_tokens_per_s": round(tokens / secs),
        }), file=sys.stderr)


if __name__ == "__main__":
    main()
