//! sacreBLEU's BLEU tokenizers: `13a` (mteval-v13a), `intl` (mteval-v14
//! international), `none` and `char`.
//!
//! The regular expressions of sacreBLEU all match exactly two characters (or
//! one), with a condition on each. `re.sub` replaces the leftmost match, then
//! resumes after it, so a plain left-to-right scan over characters that
//! consumes both characters on a match reproduces it exactly, without a regex
//! engine and its own Unicode tables.

use std::fmt;
use std::str::FromStr;

use crate::error::MetricError;
use crate::pystr::py_normalize_spaces;
use crate::unicode_cat::{is_number, is_punct, is_symbol};

/// Which tokenizer BLEU applies before counting n-grams.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Tokenize {
    /// `13a`: mteval-v13a, the WMT standard and sacreBLEU's default.
    #[default]
    Thirteen,
    /// `intl`: mteval-v14 international, splitting Unicode punctuation and symbols.
    Intl,
    /// `none`: the text as is (split on whitespace only).
    None,
    /// `char`: every character is a token.
    Char,
}

impl Tokenize {
    /// The name sacreBLEU uses on its command line and in signatures.
    pub fn name(self) -> &'static str {
        match self {
            Tokenize::Thirteen => "13a",
            Tokenize::Intl => "intl",
            Tokenize::None => "none",
            Tokenize::Char => "char",
        }
    }

    /// Tokenizes one line exactly as sacreBLEU's tokenizer object would.
    pub fn tokenize(self, line: &str) -> String {
        match self {
            Tokenize::Thirteen => tokenize_13a(line),
            Tokenize::Intl => tokenize_intl(line),
            Tokenize::None => line.to_string(),
            Tokenize::Char => tokenize_char(line),
        }
    }
}

impl FromStr for Tokenize {
    type Err = MetricError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "13a" => Ok(Tokenize::Thirteen),
            "intl" => Ok(Tokenize::Intl),
            "none" => Ok(Tokenize::None),
            "char" => Ok(Tokenize::Char),
            other => Err(MetricError::UnknownTokenizer(other.to_string())),
        }
    }
}

impl fmt::Display for Tokenize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// `Tokenizer13a.__call__`: undo mteval's markup, then the `re` tokenizer.
fn tokenize_13a(line: &str) -> String {
    let mut line = line
        .replace("<skipped>", "")
        .replace("-\n", "")
        .replace('\n', " ");
    // Same order as sacreBLEU, so `&amp;quot;` becomes `&quot;`, not `"`.
    if line.contains('&') {
        line = line
            .replace("&quot;", "\"")
            .replace("&amp;", "&")
            .replace("&lt;", "<")
            .replace("&gt;", ">");
    }
    tokenize_re(&format!(" {line} "))
}

/// The class `[\{-\~\[-\` -\&\(-\+\:-\@\/]` of `TokenizerRegexp`: ASCII
/// punctuation except `'`, `,`, `-`, `.`, plus the space itself.
fn is_13a_split_char(c: char) -> bool {
    matches!(c, '{'..='~' | '['..='`' | ' '..='&' | '('..='+' | ':'..='@' | '/')
}

/// `TokenizerRegexp.__call__`: the four substitutions, then space normalisation.
fn tokenize_re(line: &str) -> String {
    // ([\{-\~\[-\` -\&\(-\+\:-\@\/]) -> ' \1 '
    let mut s = String::with_capacity(line.len() * 2);
    for c in line.chars() {
        if is_13a_split_char(c) {
            s.push(' ');
            s.push(c);
            s.push(' ');
        } else {
            s.push(c);
        }
    }
    let is_period_comma = |c: char| c == '.' || c == ',';
    // ([^0-9])([\.,]) -> '\1 \2 ': period and comma unless preceded by a digit.
    let s = sub_pairs(
        &s,
        |a, b| !a.is_ascii_digit() && is_period_comma(b),
        "",
        " ",
        " ",
    );
    // ([\.,])([^0-9]) -> ' \1 \2': period and comma unless followed by a digit.
    let s = sub_pairs(
        &s,
        |a, b| is_period_comma(a) && !b.is_ascii_digit(),
        " ",
        " ",
        "",
    );
    // ([0-9])(-) -> '\1 \2 ': a dash after a digit.
    let s = sub_pairs(&s, |a, b| a.is_ascii_digit() && b == '-', "", " ", " ");
    py_normalize_spaces(&s)
}

/// `TokenizerV14International.__call__`.
fn tokenize_intl(line: &str) -> String {
    // (\P{N})(\p{P}) -> '\1 \2 ': punctuation preceded by a non-digit.
    let s = sub_pairs(line, |a, b| !is_number(a) && is_punct(b), "", " ", " ");
    // (\p{P})(\P{N}) -> ' \1 \2': punctuation followed by a non-digit.
    let s = sub_pairs(&s, |a, b| is_punct(a) && !is_number(b), " ", " ", "");
    // (\p{S}) -> ' \1 ': symbols always.
    let mut out = String::with_capacity(s.len() * 2);
    for c in s.chars() {
        if is_symbol(c) {
            out.push(' ');
            out.push(c);
            out.push(' ');
        } else {
            out.push(c);
        }
    }
    py_normalize_spaces(&out)
}

/// `TokenizerChar.__call__`: `" ".join(line)`.
fn tokenize_char(line: &str) -> String {
    let mut out = String::with_capacity(line.len() * 2);
    for (i, c) in line.chars().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push(c);
    }
    out
}

/// `re.sub(r'(X)(Y)', repl, s)` where X and Y each match one character: on
/// every leftmost, non-overlapping pair `(a, b)` with `matches(a, b)`, writes
/// `before a mid b after` and resumes after `b`.
fn sub_pairs(
    s: &str,
    matches: impl Fn(char, char) -> bool,
    before: &str,
    mid: &str,
    after: &str,
) -> String {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len() + s.len() / 2);
    let mut i = 0;
    while i < chars.len() {
        if i + 1 < chars.len() && matches(chars[i], chars[i + 1]) {
            out.push_str(before);
            out.push(chars[i]);
            out.push_str(mid);
            out.push(chars[i + 1]);
            out.push_str(after);
            i += 2;
        } else {
            out.push(chars[i]);
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for tok in [
            Tokenize::Thirteen,
            Tokenize::Intl,
            Tokenize::None,
            Tokenize::Char,
        ] {
            assert_eq!(tok.to_string().parse::<Tokenize>().unwrap(), tok);
        }
        assert!("zh".parse::<Tokenize>().is_err());
    }

    #[test]
    fn thirteen_a_keeps_numbers_together() {
        assert_eq!(
            Tokenize::Thirteen.tokenize("It costs $1,000.50, ok. 3-4"),
            "It costs $ 1,000.50 , ok . 3 - 4"
        );
    }

    #[test]
    fn sub_pairs_does_not_overlap() {
        // `a.,b`: the first pair `a.` is consumed, so `.,` is not a match start.
        assert_eq!(
            sub_pairs(
                "a.,b",
                |a, b| !a.is_ascii_digit() && (b == '.' || b == ','),
                "",
                " ",
                " "
            ),
            "a . ,b"
        );
    }
}
