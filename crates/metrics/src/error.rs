//! The one error type of the crate, and the stream checks that produce it.

use std::path::PathBuf;

/// Everything that can go wrong when reading or scoring.
#[derive(Debug, thiserror::Error)]
pub enum MetricError {
    /// No reference stream at all: there is nothing to score against.
    #[error("no references given: at least one reference stream is required")]
    NoReferences,

    /// The hypothesis stream has no lines (sacreBLEU refuses this too).
    #[error("no hypotheses to score: the hypothesis stream has 0 lines")]
    EmptyHypotheses,

    /// A reference stream does not have one line per hypothesis.
    #[error(
        "line count mismatch: the hypotheses have {hyp_lines} lines but reference {reference} \
         has {ref_lines} lines; every reference stream needs one line per hypothesis"
    )]
    LineCountMismatch {
        /// 1-based index of the offending reference stream.
        reference: usize,
        hyp_lines: usize,
        ref_lines: usize,
    },

    #[error("unknown tokenizer `{0}`: expected one of 13a, intl, none, char")]
    UnknownTokenizer(String),

    #[error("unknown smoothing method `{0}`: expected one of exp, floor, add-k, none")]
    UnknownSmoothing(String),

    #[error("cannot read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("{}: line {line} is not valid UTF-8", path.display())]
    InvalidUtf8 {
        path: PathBuf,
        /// 1-based line number.
        line: usize,
    },
}

/// Checks what sacreBLEU's CLI checks before scoring: at least one hypothesis,
/// at least one reference stream, and equal line counts everywhere.
pub(crate) fn check_streams(hyps: &[String], refs: &[Vec<String>]) -> Result<(), MetricError> {
    if refs.is_empty() {
        return Err(MetricError::NoReferences);
    }
    if hyps.is_empty() {
        return Err(MetricError::EmptyHypotheses);
    }
    for (i, stream) in refs.iter().enumerate() {
        if stream.len() != hyps.len() {
            return Err(MetricError::LineCountMismatch {
                reference: i + 1,
                hyp_lines: hyps.len(),
                ref_lines: stream.len(),
            });
        }
    }
    Ok(())
}
