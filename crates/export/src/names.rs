//! The exported names of the parameters: fairseq's, which most Transformer tooling knows
//! (`encoder.layers.0.self_attn.q_proj.weight`, `decoder.output_projection.weight`, ...).
//! They are a public format, so they never follow a refactoring of the Rust module tree: a
//! parameter this table does not know is an error, caught by the tests, not a new name.

/// The exported name of the parameter at Burn module path `path`, or `None` when the path is
/// not one of the model's parameters.
pub fn exported_name(path: &str) -> Option<String> {
    let parts: Vec<&str> = path.split('.').collect();
    let name = match parts.as_slice() {
        ["src_embed", "weight"] => "encoder.embed_tokens.weight".to_string(),
        ["tgt_embed", "weight"] => "decoder.embed_tokens.weight".to_string(),
        ["src_positions", "learned"] => "encoder.embed_positions.weight".to_string(),
        ["tgt_positions", "learned"] => "decoder.embed_positions.weight".to_string(),
        ["output", p @ ("weight" | "bias")] => format!("decoder.output_projection.{p}"),
        [stack @ ("encoder" | "decoder"), "final_norm", p] => {
            format!("{stack}.layer_norm.{}", norm_param(p)?)
        }
        [stack @ ("encoder" | "decoder"), "layers", i, rest @ ..] => {
            i.parse::<usize>().ok()?;
            format!("{stack}.layers.{i}.{}", layer_part(rest)?)
        }
        _ => return None,
    };
    Some(name)
}

/// Whether the exported tensor is a linear layer's weight: stored `[out, in]` as PyTorch and
/// CTranslate2 do, where Burn keeps `[in, out]`.
pub fn is_linear_weight(exported: &str) -> bool {
    exported.ends_with("_proj.weight")
        || exported.ends_with("fc1.weight")
        || exported.ends_with("fc2.weight")
        || exported == "decoder.output_projection.weight"
}

fn norm_param(p: &str) -> Option<&'static str> {
    match p {
        "gamma" => Some("weight"),
        "beta" => Some("bias"),
        _ => None,
    }
}

fn layer_part(rest: &[&str]) -> Option<String> {
    Some(match rest {
        [
            attn @ ("self_attn" | "cross_attn"),
            "attention",
            proj,
            p @ ("weight" | "bias"),
        ] => {
            let attn = if *attn == "self_attn" {
                "self_attn"
            } else {
                "encoder_attn"
            };
            let proj = match *proj {
                "query" => "q_proj",
                "key" => "k_proj",
                "value" => "v_proj",
                "output" => "out_proj",
                _ => return None,
            };
            format!("{attn}.{proj}.{p}")
        }
        ["ffn", "inner", p @ ("weight" | "bias")] => format!("fc1.{p}"),
        ["ffn", "outer", p @ ("weight" | "bias")] => format!("fc2.{p}"),
        [residual, "norm", p] => {
            let norm = match *residual {
                "attn_residual" | "self_residual" => "self_attn_layer_norm",
                "cross_residual" => "encoder_attn_layer_norm",
                "ffn_residual" => "final_layer_norm",
                _ => return None,
            };
            format!("{norm}.{}", norm_param(p)?)
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Device;
    use nmt_model::{ModelConfig, NormPosition, PositionKind, parameters};
    use std::collections::HashSet;

    #[test]
    fn every_parameter_of_every_architecture_has_one_distinct_name() {
        let device = Device::flex();
        for (share, tie, norm, positions) in [
            (true, true, NormPosition::Pre, PositionKind::Sinusoidal),
            (false, false, NormPosition::Post, PositionKind::Learned),
        ] {
            let cfg = ModelConfig {
                share_embeddings: share,
                tie_output: tie,
                norm,
                positions,
                ..nmt_testkit::tiny_config()
            };
            let model = nmt_testkit::model_with(&cfg, 1, 50, &device);
            let mut seen = HashSet::new();
            for p in parameters(&model) {
                let name = exported_name(&p.path)
                    .unwrap_or_else(|| panic!("no exported name for {}", p.path));
                assert!(seen.insert(name.clone()), "{name} given twice");
                if is_linear_weight(&name) {
                    assert_eq!(p.dims.len(), 2, "{name}");
                }
            }
            assert_eq!(
                seen.contains("decoder.output_projection.weight"),
                !tie,
                "{seen:?}"
            );
            assert_eq!(seen.contains("encoder.embed_tokens.weight"), !share);
            assert_eq!(
                seen.contains("encoder.layer_norm.weight"),
                norm == NormPosition::Pre
            );
        }
        assert_eq!(
            exported_name("decoder.layers.1.cross_attn.attention.key.bias").as_deref(),
            Some("decoder.layers.1.encoder_attn.k_proj.bias")
        );
        assert_eq!(exported_name("decoder.layers.x.ffn.inner.weight"), None);
        assert_eq!(exported_name("encoder.mystery.weight"), None);
    }
}
