//! Unicode general categories P, S and N, as the intl tokenizer needs them.
//!
//! sacreBLEU's intl tokenizer matches `\p{P}`, `\p{S}` and `\P{N}` with
//! Python's `regex` module, which carries its own (recent) Unicode tables.
//! The ranges in `intl_tables.rs` are generated from that module by
//! `scripts/make-sacrebleu-fixtures.py`, so new characters classify the same
//! way here as in sacreBLEU.

#[path = "intl_tables.rs"]
mod tables;

/// The three general-category groups the intl tokenizer distinguishes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Cat {
    /// Punctuation: Pc, Pd, Ps, Pe, Pi, Pf, Po.
    P,
    /// Symbol: Sm, Sc, Sk, So.
    S,
    /// Number: Nd, Nl, No.
    N,
}

/// The group of `c`, or `None` for letters, marks, separators, controls, ...
pub(crate) fn category(c: char) -> Option<Cat> {
    let cp = c as u32;
    let ranges = tables::CATEGORY_RANGES;
    // The ranges are sorted and disjoint: find the last one starting at or before cp.
    let idx = ranges.partition_point(|&(start, _, _)| start <= cp);
    let &(_, end, cat) = ranges.get(idx.checked_sub(1)?)?;
    (cp <= end).then_some(cat)
}

pub(crate) fn is_punct(c: char) -> bool {
    category(c) == Some(Cat::P)
}

pub(crate) fn is_symbol(c: char) -> bool {
    category(c) == Some(Cat::S)
}

pub(crate) fn is_number(c: char) -> bool {
    category(c) == Some(Cat::N)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    #[test]
    fn categories_match_python_regex_on_every_code_point() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/unicode.json");
        let fixture: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let mut expected = vec![None; 0x110000];
        for range in fixture["categories"].as_array().unwrap() {
            let start = range[0].as_u64().unwrap() as usize;
            let end = range[1].as_u64().unwrap() as usize;
            let cat = match range[2].as_str().unwrap() {
                "P" => Cat::P,
                "S" => Cat::S,
                "N" => Cat::N,
                other => panic!("unknown category {other}"),
            };
            expected[start..=end].fill(Some(cat));
        }
        for c in (0..=0x10FFFFu32).filter_map(char::from_u32) {
            assert_eq!(category(c), expected[c as usize], "U+{:04X}", c as u32);
        }
    }

    #[test]
    fn spot_checks() {
        assert_eq!(category('.'), Some(Cat::P));
        assert_eq!(category('„'), Some(Cat::P));
        assert_eq!(category('€'), Some(Cat::S));
        assert_eq!(category('\u{20C1}'), Some(Cat::S)); // Saudi riyal sign, Unicode 17
        assert_eq!(category('٣'), Some(Cat::N));
        assert_eq!(category('a'), None);
        assert_eq!(category('\u{10FFFF}'), None);
    }
}
