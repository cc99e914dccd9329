#!/usr/bin/env python3
"""Build a synthetic English-German parallel corpus the size of WMT14 En-De.

It is the input of the `nmt prepare` benchmark in docs/benchmarks.md: preparing a
WMT14-sized corpus (reading, filtering, training the BPE, encoding) without downloading
WMT14. Nothing is downloaded; the text comes from two corpora already on disk:

  * Multi30k train (en/de, 29,000 caption pairs), ../shared/data/multi30k from the
    repository root (or data/multi30k, where scripts/get-multi30k.sh puts it);
  * the quick-start corpus committed in data/quickstart/train.{en,de} (6,000 pairs).

Each synthetic pair joins 1 to 6 aligned source pairs (the same choice on both sides, so
line i of train.de translates line i of train.en). About 20% of the joined pieces come
from the quick-start corpus, the rest from Multi30k. Pieces are joined with a space, or,
after the final full stop is dropped, with ", " or " ; ". The number of pieces is drawn
so that lines average about 25 words with a long tail (WMT14 En-De: 23-27 words a line,
up to ~100), close to WMT news/Europarl/Common Crawl text. Multi30k alone has only ~20k
word types per side where WMT14 has hundreds of thousands, so about 30% of the lines also
get a news-style lead-in ("According to Velmarin," / "Laut Velmarin") naming one or two
synthetic proper nouns, drawn Zipf-like from a pool of --names, or a date or a number;
these appear unchanged on both sides, as names do in real translations. `--names 0`
turns the lead-ins off.

The output is deterministic for a given --seed (and the same input files).

Usage, from the repository root (standard library only, Python 3.8+):

    python3 scripts/make-synthetic-corpus.py                       # 4.5M pairs, target/synthetic-wmt14
    python3 scripts/make-synthetic-corpus.py --pairs 20000 --out /tmp/synth
    python3 scripts/make-synthetic-corpus.py --gzip                # train.en.gz / train.de.gz, gzip -1

It writes OUT/train.en and OUT/train.de (or .gz) and prints the pairs written, words per
line (mean, median, 99th percentile) and distinct whitespace-separated word types for
each side, bytes written and seconds taken. 4.5M pairs take a few minutes on one core.
"""

import argparse
import gzip
import math
import os
import sys
import time
from pathlib import Path
import random

ROOT = Path(__file__).resolve().parent.parent

# Number of pieces joined into one line, as (count, weight). With ~11.3 words a piece
# (Multi30k ~11.9 en / 11.1 de, quick-start ~8.6) this gives ~25 words a line with lead-ins,
# and a tail: a 6-piece line of long captions runs past 100 words.
PIECE_COUNTS = [(1, 30), (2, 38), (3, 21), (4, 7), (5, 2.5), (6, 1.5)]
# How a piece that is not the last one ends: as is, ", " or " ; " (after dropping . ! ?).
JOINS = [(0, 60), (1, 30), (2, 10)]

# Lead-ins: (English, German). {N}/{M} are proper nouns, {Y} a year, {D} a day,
# {MON} a month (index into the tables below), {K} a count written the language's way.
LEADS = [
    ("{N} said:", "{N} sagte:"),
    ("According to {N},", "Laut {N}"),
    ("{N} and {M} reported:", "{N} und {M} berichteten:"),
    ("In {N},", "In {N}"),
    ("Speaking in {N}, {M} said:", "In {N} sagte {M}:"),
    ("In {Y},", "Im Jahr {Y}"),
    ("On {D} {MON} {Y},", "Am {D}. {MON} {Y}"),
    ("{K} people said:", "{K} Menschen sagten:"),
]
MONTHS_EN = ["January", "February", "March", "April", "May", "June", "July", "August",
             "September", "October", "November", "December"]
MONTHS_DE = ["Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August",
             "September", "Oktober", "November", "Dezember"]
# Syllables of the synthetic proper nouns.
SYLLABLES = [c + v for c in ["b", "d", "f", "g", "h", "k", "l", "m", "n", "p", "r", "s",
                             "t", "v", "w", "z", "br", "st", "tr", "kl"]
             for v in ["a", "e", "i", "o", "u", "ei", "au"]] + \
            ["an", "en", "in", "on", "ar", "er", "or", "el", "ul", "ich", "berg", "ov"]


def weighted_table(pairs, size=1000):
    """A list of `size` values in proportion to their weights: table[int(random() * size)]."""
    total = sum(w for _, w in pairs)
    table = []
    for value, weight in pairs:
        table += [value] * round(size * weight / total)
    while len(table) < size:
        table.append(pairs[-1][0])
    return table[:size]


def read_lines(path):
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as f:
        return [line.rstrip("\r\n") for line in f]


def find_pair(folder, split):
    """Paths of SPLIT.en and SPLIT.de in folder, plain or .gz, or None."""
    for suffix in ("", ".gz"):
        en, de = folder / f"{split}.en{suffix}", folder / f"{split}.de{suffix}"
        if en.is_file() and de.is_file():
            return en, de
    return None


def load_pairs(folder, split, what):
    paths = find_pair(folder, split)
    if paths is None:
        sys.exit(f"make-synthetic-corpus: no {split}.en/{split}.de (plain or .gz) in {folder} ({what})")
    en, de = (read_lines(p) for p in paths)
    if len(en) != len(de):
        sys.exit(f"make-synthetic-corpus: {paths[0]} has {len(en)} lines, {paths[1]} has {len(de)}")
    pairs = [(e.strip(), d.strip()) for e, d in zip(en, de)]
    return [(e, d) for e, d in pairs if e and d]


def clause(text):
    """text without its final . ! ? (and the spaces before it)."""
    end = len(text)
    while end > 0 and text[end - 1] in ".!?":
        end -= 1
    return text[:end].rstrip() or text


def forms(sentences):
    """Three forms per sentence, at 3*i + join: as is, ending in ",", ending in " ;"."""
    out = []
    for s in sentences:
        c = clause(s)
        out += [s, c + ",", c + " ;"]
    return out


class Names:
    """Proper noun number i of a pool of `size`: distinct i give distinct syllable strings
    (i -> (i * mult + add) % size is a bijection, scrambled by the seed), 2 or more syllables."""

    def __init__(self, size, seed):
        self.size = size
        rng = random.Random(f"names-{seed}")
        self.mult = rng.randrange(1, max(2, size))
        while math.gcd(self.mult, size) != 1:
            self.mult += 1
        self.add = rng.randrange(0, size)
        self.cache = {}

    def get(self, i):
        name = self.cache.get(i)
        if name is None:
            n = len(SYLLABLES)
            j = (i * self.mult + self.add) % self.size + n  # + n: at least two syllables
            parts = []
            while j:
                j, r = divmod(j, n)
                parts.append(SYLLABLES[r])
            name = "".join(parts).capitalize()
            self.cache[i] = name
        return name


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pairs", type=int, default=4_500_000, help="sentence pairs to write (default 4,500,000, WMT14 En-De)")
    ap.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    ap.add_argument("--out", type=Path, default=ROOT / "target" / "synthetic-wmt14",
                    help="output folder (default target/synthetic-wmt14)")
    ap.add_argument("--gzip", action="store_true", help="write train.en.gz / train.de.gz, gzip level 1")
    ap.add_argument("--multi30k", type=Path, default=None,
                    help="folder with Multi30k train.en/.de (default ../shared/data/multi30k, else data/multi30k)")
    ap.add_argument("--quickstart", type=Path, default=ROOT / "data" / "quickstart",
                    help="folder with the quick-start train.en/.de (default data/quickstart)")
    ap.add_argument("--quickstart-share", type=float, default=0.2,
                    help="share of joined pieces taken from the quick-start corpus (default 0.2)")
    ap.add_argument("--names", type=int, default=500_000,
                    help="pool of synthetic proper nouns for lead-ins (default 500,000; 0: no lead-ins)")
    ap.add_argument("--lead-share", type=float, default=0.3, help="share of lines with a lead-in (default 0.3)")
    args = ap.parse_args()
    if args.pairs < 1:
        ap.error("--pairs must be at least 1")
    if not 0.0 <= args.quickstart_share <= 1.0 or not 0.0 <= args.lead_share <= 1.0:
        ap.error("--quickstart-share and --lead-share must be between 0 and 1")

    start = time.perf_counter()
    m30k_dir = args.multi30k
    if m30k_dir is None:
        candidates = [ROOT.parent / "shared" / "data" / "multi30k", ROOT / "data" / "multi30k"]
        m30k_dir = next((c for c in candidates if find_pair(c, "train")), candidates[0])
    m30k = load_pairs(m30k_dir, "train", "Multi30k")
    qs = load_pairs(args.quickstart, "train", "quick-start corpus")
    qs_share = args.quickstart_share if qs else 0.0
    if not m30k:
        qs_share = 1.0
    if qs_share > 0 and not qs:
        sys.exit("make-synthetic-corpus: the quick-start corpus is empty")

    # Pieces 0..nm-1 are Multi30k, nm.. the quick-start pairs; form 3*piece + join.
    pieces = m30k + qs
    nm, nq = len(m30k), len(qs)
    fe = forms([e for e, _ in pieces])
    fd = forms([d for _, d in pieces])
    we = [len(s.split()) for s in fe]
    wd = [len(s.split()) for s in fd]
    used = bytearray(len(fe))

    ktab = weighted_table(PIECE_COUNTS)
    jtab = weighted_table(JOINS)
    klen, jlen = len(ktab), len(jtab)
    m_scale = nm / (1.0 - qs_share) if qs_share < 1.0 else 0.0
    q_scale = nq / qs_share if qs_share > 0.0 else 0.0

    names = Names(args.names, args.seed) if args.names > 0 else None
    lead_share = args.lead_share if names else 0.0
    lead_types_en, lead_types_de = set(), set()
    ln_pool = names.size if names else 1

    rng = random.Random(args.seed)
    rand = rng.random
    randrange = rng.randrange

    args.out.mkdir(parents=True, exist_ok=True)
    suffix = ".gz" if args.gzip else ""
    paths = [args.out / f"train.en{suffix}", args.out / f"train.de{suffix}"]
    raws = [open(p, "wb", buffering=1 << 20) for p in paths]
    if args.gzip:
        sinks = [gzip.GzipFile(filename="", mode="wb", compresslevel=1, fileobj=r, mtime=0) for r in raws]
    else:
        sinks = raws
    write_en, write_de = sinks[0].write, sinks[1].write

    hist_en = [0] * 4096
    hist_de = [0] * 4096
    bytes_en = bytes_de = 0
    buf_en, buf_de = [], []
    flush_every = 20_000

    def name():
        # Zipf-like: P(i) ~ 1/i over the pool (log-uniform index).
        return names.get(int(ln_pool ** rand()) - 1)

    def lead():
        t = LEADS[randrange(len(LEADS))]
        n = name() if "{N}" in t[0] else ""
        m = name() if "{M}" in t[0] else ""
        y = str(randrange(1950, 2015))
        d = str(randrange(1, 29))
        mon = randrange(12)
        k = randrange(2, 100_000)
        ke, kd = f"{k:,}", f"{k:,}".replace(",", ".")
        e = t[0].format(N=n, M=m, Y=y, D=d, MON=MONTHS_EN[mon], K=ke)
        g = t[1].format(N=n, M=m, Y=y, D=d, MON=MONTHS_DE[mon], K=kd)
        return e, g

    for i in range(args.pairs):
        k = ktab[int(rand() * klen)]
        ids = []
        for j in range(k):
            r = rand()
            if r < qs_share:
                p = nm + int(r * q_scale)
                if p >= nm + nq:
                    p = nm + nq - 1
            else:
                p = int((r - qs_share) * m_scale)
                if p >= nm:
                    p = nm - 1
            f = 3 * p
            if j + 1 < k:
                f += jtab[int(rand() * jlen)]
            used[f] = 1
            ids.append(f)
        if k == 1:
            en, de = fe[f], fd[f]
            ne, nd = we[f], wd[f]
        else:
            en = " ".join([fe[f] for f in ids])
            de = " ".join([fd[f] for f in ids])
            ne = sum([we[f] for f in ids])
            nd = sum([wd[f] for f in ids])
        if lead_share and rand() < lead_share:
            le, ld = lead()
            te, td = le.split(), ld.split()
            lead_types_en.update(te)
            lead_types_de.update(td)
            en = le + " " + en
            de = ld + " " + de
            ne += len(te)
            nd += len(td)
        hist_en[ne if ne < 4095 else 4095] += 1
        hist_de[nd if nd < 4095 else 4095] += 1
        buf_en.append(en)
        buf_de.append(de)
        if len(buf_en) >= flush_every:
            be = ("\n".join(buf_en) + "\n").encode("utf-8")
            bd = ("\n".join(buf_de) + "\n").encode("utf-8")
            write_en(be)
            write_de(bd)
            bytes_en += len(be)
            bytes_de += len(bd)
            buf_en.clear()
            buf_de.clear()
    if buf_en:
        be = ("\n".join(buf_en) + "\n").encode("utf-8")
        bd = ("\n".join(buf_de) + "\n").encode("utf-8")
        write_en(be)
        write_de(bd)
        bytes_en += len(be)
        bytes_de += len(bd)
    for s in sinks:
        s.close()
    for r in raws:
        r.close()

    # Word types: those of every form used, plus the lead-ins' words.
    types_en, types_de = set(lead_types_en), set(lead_types_de)
    for f, flag in enumerate(used):
        if flag:
            types_en.update(fe[f].split())
            types_de.update(fd[f].split())
    seconds = time.perf_counter() - start

    def summary(hist):
        n = sum(hist)
        mean = sum(w * c for w, c in enumerate(hist)) / n
        median = p99 = None
        seen = 0
        for w, c in enumerate(hist):
            seen += c
            if median is None and 2 * seen >= n:
                median = w
            if p99 is None and 100 * seen >= 99 * n:
                p99 = w
                break
        top = max(w for w, c in enumerate(hist) if c)
        return mean, median, p99, top

    print(f"make-synthetic-corpus: wrote {args.pairs:,} pairs to {paths[0]} and {paths[1]} (seed {args.seed})")
    print(f"  sources: Multi30k train {nm:,} pairs ({m30k_dir}), quick-start {nq:,} pairs "
          f"({args.quickstart_share:.0%} of pieces), lead-ins on {lead_share:.0%} of lines")
    for lang, hist, types, nbytes, path in (("en", hist_en, types_en, bytes_en, paths[0]),
                                            ("de", hist_de, types_de, bytes_de, paths[1])):
        mean, median, p99, top = summary(hist)
        size = os.path.getsize(path)
        on_disk = f", {size:,} on disk" if args.gzip else ""
        print(f"  {lang}: words/line mean {mean:.2f}, median {median}, p99 {p99}, max {top}; "
              f"{len(types):,} word types; {nbytes:,} bytes of text{on_disk}")
    print(f"  {seconds:.1f} s")


if __name__ == "__main__":
    main()
