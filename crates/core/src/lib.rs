//! What every nmt crate agrees on, and nothing else: the reserved token ids, the error a
//! config section returns for a setting out of range, and the checksummed [`manifest`] that
//! checkpoints and prepared datasets carry.
//!
//! This crate depends on nothing of the workspace and on no tensor library, so the data
//! pipeline, the model and the metrics can all share it without depending on each other.

use std::fmt;

pub mod manifest;
pub mod rng;
pub mod rows;

pub use manifest::{IntegrityError, MANIFEST_FILE, Manifest};

/// A token id, as the tokenizer produces it and the model's embedding table indexes it.
pub type TokenId = u32;

/// `<pad>`: fills batches to a rectangle; never attended to, never in a loss, never produced.
pub const PAD_ID: TokenId = 0;
/// `<s>`: the decoder's first input.
pub const BOS_ID: TokenId = 1;
/// `</s>`: ends every source and every target.
pub const EOS_ID: TokenId = 2;
/// `<unk>`: a token outside the vocabulary (unused by tokenizers with byte fallback).
pub const UNK_ID: TokenId = 3;
/// The reserved tokens' strings, index = id.
pub const SPECIAL_TOKENS: [&str; 4] = ["<pad>", "<s>", "</s>", "<unk>"];

/// A setting whose value cannot work: which key (`section.key`), the value given, and what
/// is allowed. Every config section's `validate` returns it, so a user reads the same kind of
/// message for every section.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub struct InvalidSetting {
    /// The full key, e.g. `data.max_len_ratio`.
    pub key: String,
    /// The value as given.
    pub value: String,
    /// What is allowed, e.g. `must be at least 1.0`.
    pub allowed: String,
}

impl InvalidSetting {
    pub fn new(
        key: impl Into<String>,
        value: impl fmt::Display,
        allowed: impl Into<String>,
    ) -> Self {
        Self {
            key: key.into(),
            value: value.to_string(),
            allowed: allowed.into(),
        }
    }
}

impl fmt::Display for InvalidSetting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} = {}: {}", self.key, self.value, self.allowed)
    }
}

/// Checks one value against a condition: `Ok` when `ok`, else the [`InvalidSetting`].
pub fn check(
    ok: bool,
    key: &str,
    value: impl fmt::Display,
    allowed: &str,
) -> Result<(), InvalidSetting> {
    if ok {
        Ok(())
    } else {
        Err(InvalidSetting::new(key, value, allowed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_setting_names_key_value_and_what_is_allowed() {
        let e = check(false, "data.max_len_ratio", 0.5, "must be at least 1.0").unwrap_err();
        assert_eq!(
            e.to_string(),
            "data.max_len_ratio = 0.5: must be at least 1.0"
        );
        assert!(check(true, "x", 1, "").is_ok());
    }
}
