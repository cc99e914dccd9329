//! The few Python `str` behaviours sacreBLEU leans on, reproduced exactly.
//!
//! sacreBLEU splits on `str.split()` and strips with `str.rstrip()`, which use
//! Python's idea of whitespace, not Rust's: Python also counts the
//! information separators U+001C..U+001F. Getting this wrong changes token
//! counts on inputs that contain those control characters.

/// `str.isspace()` for one character.
pub(crate) fn is_py_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// `str.split()` with no arguments: runs of whitespace separate, no empty items.
pub(crate) fn py_split(s: &str) -> impl Iterator<Item = &str> {
    s.split(is_py_space).filter(|w| !w.is_empty())
}

/// `' '.join(s.split())`: the whitespace normalisation every tokenizer ends with.
pub(crate) fn py_normalize_spaces(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for word in py_split(s) {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

/// `str.rstrip()` with no arguments.
pub(crate) fn py_rstrip(s: &str) -> &str {
    s.trim_end_matches(is_py_space)
}

/// `str.lower()`. Rust's full lowercase mapping matches Python's, including the
/// context-dependent final sigma; only letters added to Unicode after the
/// Python build's tables can differ (see the unicode fixture test).
pub(crate) fn py_lower(s: &str) -> String {
    s.to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn unicode_fixture() -> Value {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/unicode.json");
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    #[test]
    fn whitespace_matches_python_isspace_on_every_code_point() {
        let fixture = unicode_fixture();
        let expected: Vec<u32> = fixture["isspace"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as u32)
            .collect();
        let actual: Vec<u32> = (0..=0x10FFFFu32)
            .filter_map(char::from_u32)
            .filter(|&c| is_py_space(c))
            .map(|c| c as u32)
            .collect();
        assert_eq!(actual, expected);
    }

    /// Characters Rust lowercases but Python 3.11 (Unicode 14) does not: all
    /// unassigned there, given case mappings by Unicode 16 or 17 (Cyrillic TJE,
    /// Latin Extended-D additions, Garay, Beria Erfe). Pythons with newer
    /// Unicode tables agree with Rust on them.
    fn lowercased_only_in_newer_unicode(cp: u32) -> bool {
        matches!(
            cp,
            0x1C89
                | 0xA7CB
                | 0xA7CC
                | 0xA7CE
                | 0xA7D2
                | 0xA7D4
                | 0xA7DA
                | 0xA7DC
                | 0x10D50..=0x10D65
                | 0x16EA0..=0x16EB8
        )
    }

    #[test]
    fn lowercase_matches_python_lower_on_every_code_point() {
        let fixture = unicode_fixture();
        let mut python = std::collections::HashMap::new();
        for pair in fixture["lower"].as_array().unwrap() {
            let cp = pair[0].as_u64().unwrap() as u32;
            python.insert(cp, pair[1].as_str().unwrap().to_string());
        }
        for c in (0..=0x10FFFFu32).filter_map(char::from_u32) {
            let ours = py_lower(&c.to_string());
            match python.get(&(c as u32)) {
                Some(theirs) => assert_eq!(&ours, theirs, "U+{:04X}", c as u32),
                None if ours != c.to_string() => assert!(
                    lowercased_only_in_newer_unicode(c as u32),
                    "U+{:04X} lowercases to {ours:?} in Rust but not in Python",
                    c as u32
                ),
                None => {}
            }
        }
    }

    #[test]
    fn final_sigma_is_contextual_like_python() {
        assert_eq!(py_lower("ΟΔΟΣ ΣΑΣ. Σ"), "οδος σας. σ");
    }

    /// `str.lower()` and `str.split()` on whole tricky sentences (final sigma,
    /// dotted I, titlecase digraphs, odd whitespace), against Python.
    #[test]
    fn sentences_lower_and_split_like_python() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/tokenizers.json"
        );
        let fixture: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        for case in fixture["cases"].as_array().unwrap() {
            let input = case["input"].as_str().unwrap();
            assert_eq!(
                py_lower(input),
                case["lower"].as_str().unwrap(),
                "{input:?}"
            );
            let split: Vec<&str> = case["python_split"]
                .as_array()
                .unwrap()
                .iter()
                .map(|w| w.as_str().unwrap())
                .collect();
            assert_eq!(py_split(input).collect::<Vec<_>>(), split, "{input:?}");
        }
    }

    #[test]
    fn split_and_rstrip_use_python_whitespace() {
        assert_eq!(
            py_split(" a\u{1c}b\u{3000}c\t").collect::<Vec<_>>(),
            ["a", "b", "c"]
        );
        assert_eq!(py_rstrip("x \u{1f}\u{a0}\n"), "x");
        assert_eq!(py_normalize_spaces("  a   b "), "a b");
    }
}
