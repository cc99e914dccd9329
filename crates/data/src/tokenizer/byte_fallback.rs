//! Giving a freshly trained model the layout every nmt vocabulary has: ids 0..4 the special
//! tokens, 4..260 the byte tokens `<0x00>`..`<0xFF>`, then the learned subwords; and byte
//! fallback switched on. Works on the model's JSON, the format `tokenizers` guarantees.

use serde_json::{Value, json};

use super::{SPECIAL_TOKENS, UNK_ID};
use crate::error::DataError;

/// Score of the special and byte pieces of a Unigram model, below every learned piece by
/// this much: the lattice then never prefers them over the characters of a literal `<s>` or
/// `<0x41>` in the text (unless those characters never occurred in training).
const UNIGRAM_RESERVED_SCORE_GAP: f64 = 1000.0;

fn byte_token(byte: usize) -> String {
    format!("<0x{byte:02X}>")
}

fn malformed(what: &str) -> DataError {
    DataError::TokenizerTrain {
        reason: format!("unexpected trained model layout: {what}"),
    }
}

/// Renumbers a trained BPE model's vocabulary to: special tokens, 256 byte tokens, then the
/// learned tokens in their original order; and turns byte fallback on. Merges refer to
/// token strings, so they stay valid.
pub(super) fn bpe_with_byte_fallback(mut model: Value) -> Result<Value, DataError> {
    let vocab = model
        .get("vocab")
        .and_then(Value::as_object)
        .ok_or_else(|| malformed("BPE without vocab"))?;
    let mut learned: Vec<(&String, u64)> = vocab
        .iter()
        .filter_map(|(token, id)| id.as_u64().map(|id| (token, id)))
        .collect();
    learned.sort_by_key(|&(_, id)| id);
    let mut tokens: Vec<String> = SPECIAL_TOKENS.iter().map(|s| s.to_string()).collect();
    tokens.extend((0..256).map(byte_token));
    let reserved: std::collections::HashSet<String> = tokens.iter().cloned().collect();
    tokens.extend(
        learned
            .into_iter()
            .filter(|(token, _)| !reserved.contains(*token))
            .map(|(token, _)| token.clone()),
    );
    let new_vocab: serde_json::Map<String, Value> = tokens
        .into_iter()
        .enumerate()
        .map(|(id, token)| (token, json!(id)))
        .collect();
    model["vocab"] = Value::Object(new_vocab);
    model["byte_fallback"] = json!(true);
    model["unk_token"] = json!(SPECIAL_TOKENS[UNK_ID as usize]);
    Ok(model)
}

/// Inserts the 256 byte pieces after the special pieces of a trained Unigram model, gives all
/// reserved pieces a score far below the learned ones, and turns byte fallback on.
pub(super) fn unigram_with_byte_fallback(mut model: Value) -> Result<Value, DataError> {
    let vocab = model
        .get("vocab")
        .and_then(Value::as_array)
        .ok_or_else(|| malformed("Unigram without vocab"))?;
    let pieces: Vec<(String, f64)> = vocab
        .iter()
        .filter_map(|entry| {
            let piece = entry.get(0)?.as_str()?.to_string();
            let score = entry.get(1)?.as_f64()?;
            Some((piece, score))
        })
        .collect();
    let learned: Vec<&(String, f64)> = pieces
        .iter()
        .filter(|(p, _)| !SPECIAL_TOKENS.contains(&p.as_str()) && byte_value(p).is_none())
        .collect();
    let lowest = learned
        .iter()
        .map(|(_, s)| *s)
        .fold(0.0_f64, |a, b| a.min(b));
    let reserved_score = lowest - UNIGRAM_RESERVED_SCORE_GAP;
    let mut new_vocab: Vec<Value> = SPECIAL_TOKENS
        .iter()
        .map(|s| json!([s, reserved_score]))
        .collect();
    new_vocab.extend((0..256).map(|b| json!([byte_token(b), reserved_score])));
    new_vocab.extend(learned.iter().map(|(p, s)| json!([p, s])));
    model["vocab"] = Value::Array(new_vocab);
    model["unk_id"] = json!(UNK_ID);
    model["byte_fallback"] = json!(true);
    Ok(model)
}

fn byte_value(token: &str) -> Option<u8> {
    let hex = token.strip_prefix("<0x")?.strip_suffix('>')?;
    if hex.len() == 2 {
        u8::from_str_radix(hex, 16).ok()
    } else {
        None
    }
}
