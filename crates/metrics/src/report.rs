//! What `nmt score` prints: sacreBLEU's CLI text lines, or a JSON object.

use serde_json::{Value, json};

use crate::bleu::BleuScore;
use crate::chrf::ChrfScore;

/// The scores of one evaluation run; either metric may be absent.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ScoreReport {
    pub bleu: Option<BleuScore>,
    pub chrf: Option<ChrfScore>,
}

impl ScoreReport {
    /// The lines `sacrebleu -m bleu chrf -w 2` prints in text mode, without
    /// the final newline: `NAME|SIGNATURE = SCORE [DETAILS]` per metric, BLEU
    /// first, right-aligned on the `=` when there are several.
    pub fn to_text(&self) -> String {
        let mut lines = Vec::new();
        if let Some(bleu) = &self.bleu {
            lines.push(format!(
                "BLEU|{} = {:.2} {}",
                bleu.signature(),
                bleu.score,
                bleu.verbose()
            ));
        }
        if let Some(chrf) = &self.chrf {
            lines.push(format!(
                "{}|{} = {:.2}",
                chrf.name(),
                chrf.signature(),
                chrf.score
            ));
        }
        if lines.len() < 2 {
            return lines.join("\n");
        }
        // sacreBLEU's print_single_results: pad the part before " = " on the left.
        let lefts: Vec<usize> = lines
            .iter()
            .map(|l| l.find('=').map_or(0, |i| i - 1))
            .collect();
        let width = lefts.iter().copied().max().unwrap_or(0);
        let aligned: Vec<String> = lines
            .iter()
            .zip(&lefts)
            .map(|(line, &left)| format!("{:>width$}{}", &line[..left], &line[left..]))
            .collect();
        aligned.join("\n")
    }

    /// A flat JSON object: BLEU's `bleu` (unrounded), `precisions`, `counts`,
    /// `totals`, `bp`, `ratio`, `sys_len`, `ref_len`, `signature`, `bleu_text`;
    /// chrF's `chrf` (unrounded), `chrf_name`, `chrf_signature`, `chrf_text`.
    /// Keys of a metric that was not computed are null.
    pub fn to_json(&self) -> Value {
        let mut out = json!({
            "bleu": null, "precisions": null, "counts": null, "totals": null, "bp": null,
            "ratio": null, "sys_len": null, "ref_len": null, "signature": null, "bleu_text": null,
            "chrf": null, "chrf_name": null, "chrf_signature": null, "chrf_text": null,
        });
        if let Some(b) = &self.bleu {
            out["bleu"] = json!(b.score);
            out["precisions"] = json!(b.precisions);
            out["counts"] = json!(b.counts);
            out["totals"] = json!(b.totals);
            out["bp"] = json!(b.bp);
            out["ratio"] = json!(b.ratio);
            out["sys_len"] = json!(b.sys_len);
            out["ref_len"] = json!(b.ref_len);
            out["signature"] = json!(b.signature());
            out["bleu_text"] = json!(b.to_string());
        }
        if let Some(c) = &self.chrf {
            out["chrf"] = json!(c.score);
            out["chrf_name"] = json!(c.name());
            out["chrf_signature"] = json!(c.signature());
            out["chrf_text"] = json!(c.to_string());
        }
        out
    }
}
