//! The safetensors export read back is the same network: same logits on a batch, for every
//! architecture option; a damaged or foreign file is an error that names it.

use burn::tensor::{Device, Tensor};
use nmt_data::{ParallelText, TokenizerConfig, Vocabularies};
use nmt_export::{ExportError, read_safetensors, write_safetensors};
use nmt_model::{Activation, ModelConfig, NormPosition, PositionKind, Transformer};
use nmt_testkit::{ids, tiny_config};

fn vocab(joint: bool) -> Vocabularies {
    let text = ParallelText {
        src: (0..40)
            .map(|i| format!("a small dog number {i} runs"))
            .collect(),
        tgt: (0..40)
            .map(|i| format!("ein kleiner Hund Nummer {i} rennt"))
            .collect(),
    };
    let cfg = TokenizerConfig {
        vocab_size: 300,
        joint,
        ..Default::default()
    };
    Vocabularies::train(&text, &cfg).unwrap()
}

fn logits(model: &Transformer, device: &Device) -> Vec<f32> {
    let src = ids(&[&[5, 6, 7, 8, 2], &[9, 10, 11, 2, 0]], device);
    let tgt = ids(&[&[1, 12, 13, 14], &[1, 15, 16, 0]], device);
    let out: Tensor<3> = model.forward(src, tgt);
    out.into_data().iter::<f32>().collect()
}

#[test]
fn an_export_read_back_gives_the_same_logits_for_every_architecture() {
    let device = Device::flex();
    for (i, (share, tie, norm, positions, activation)) in [
        (
            true,
            true,
            NormPosition::Pre,
            PositionKind::Sinusoidal,
            Activation::Relu,
        ),
        (
            false,
            false,
            NormPosition::Post,
            PositionKind::Learned,
            Activation::Gelu,
        ),
        (
            false,
            true,
            NormPosition::Pre,
            PositionKind::Learned,
            Activation::Relu,
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let cfg = ModelConfig {
            share_embeddings: share,
            tie_output: tie,
            norm,
            positions,
            activation,
            encoder_layers: 2,
            ..tiny_config()
        };
        let vocab = vocab(share);
        let (src_v, tgt_v) = (vocab.src.vocab_size(), vocab.tgt.vocab_size());
        let model = nmt_model::seeded(&device, 7 + i as u64, || {
            cfg.init(src_v, tgt_v, &device).unwrap()
        });
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("export");
        let done = write_safetensors(&model, &cfg, &vocab, "test", &out).unwrap();
        assert_eq!(done.parameters, burn::module::Module::num_params(&model));
        let (back, config) = read_safetensors(&out, &device).unwrap();
        assert_eq!(config.model, cfg);
        let (a, b) = (logits(&model, &device), logits(&back, &device));
        let diff = a
            .iter()
            .zip(&b)
            .map(|(x, y)| (x - y).abs())
            .fold(0f32, f32::max);
        assert!(diff <= 1e-5, "architecture {i}: logits differ by {diff}");
        // Another draw of the same architecture differs: the comparison can fail.
        let other = nmt_model::seeded(&device, 99, || cfg.init(src_v, tgt_v, &device).unwrap());
        let far = a
            .iter()
            .zip(logits(&other, &device))
            .map(|(x, y)| (x - y).abs())
            .fold(0f32, f32::max);
        assert!(
            far > 1e-3,
            "architecture {i}: another model agrees within {far}"
        );
        let files: Vec<String> = std::fs::read_dir(&out)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        for name in &config.tokenizers {
            assert!(files.contains(name), "{name} not in {files:?}");
        }
        assert!(
            !std::fs::read_dir(dir.path()).unwrap().any(|e| e
                .unwrap()
                .file_name()
                .to_string_lossy()
                .contains("partial")),
            "a staging directory was left behind"
        );
    }
}

/// The tiny model on a joint vocabulary, exported to `DIR/e`.
fn exported_tiny_model() -> (tempfile::TempDir, ModelConfig, Vocabularies, Transformer) {
    let device = Device::flex();
    let cfg = tiny_config();
    let vocab = vocab(true);
    let model = nmt_model::seeded(&device, 3, || {
        cfg.init(vocab.src.vocab_size(), vocab.tgt.vocab_size(), &device)
            .unwrap()
    });
    let dir = tempfile::tempdir().unwrap();
    write_safetensors(&model, &cfg, &vocab, "test", &dir.path().join("e")).unwrap();
    (dir, cfg, vocab, model)
}

#[test]
fn the_linear_weights_are_stored_out_by_in_as_pytorch_does() {
    let (dir, cfg, _, model) = exported_tiny_model();
    let out = dir.path().join("e");
    let bytes = std::fs::read(out.join("model.safetensors")).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let fc1 = st.tensor("encoder.layers.0.fc1.weight").unwrap();
    assert_eq!(fc1.shape(), &[cfg.ff_dim, cfg.d_model]);
    let burn_w: Vec<f32> = model.encoder.layers[0]
        .ffn
        .inner
        .weight
        .val()
        .into_data()
        .iter::<f32>()
        .collect();
    let stored: Vec<f32> = fc1
        .data()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect();
    // Burn's [in, out][i][o] is the export's [out, in][o][i].
    let (d, f) = (cfg.d_model, cfg.ff_dim);
    for i in [0, 3, d - 1] {
        for o in [0, 5, f - 1] {
            assert_eq!(burn_w[i * f + o], stored[o * d + i]);
        }
    }
    assert!(st.tensor("encoder.embed_positions.weight").is_ok());
}

#[test]
fn damaged_foreign_or_existing_outputs_are_clear_errors() {
    let device = Device::flex();
    let (dir, cfg, vocab, model) = exported_tiny_model();
    let out = dir.path().join("e");
    let again = write_safetensors(&model, &cfg, &vocab, "test", &out).unwrap_err();
    assert!(matches!(again, ExportError::OutputExists(_)), "{again}");

    let weights = out.join("model.safetensors");
    let bytes = std::fs::read(&weights).unwrap();
    std::fs::write(&weights, &bytes[..bytes.len() / 2]).unwrap();
    let err = read_safetensors(&out, &device).unwrap_err().to_string();
    assert!(err.contains("model.safetensors"), "{err}");

    // Another architecture's config: a tensor is missing or of the wrong shape.
    std::fs::write(&weights, &bytes).unwrap();
    let config_path = out.join("config.json");
    let text = std::fs::read_to_string(&config_path).unwrap();
    let bigger = text.replace("\"encoder_layers\": 1", "\"encoder_layers\": 2");
    assert_ne!(bigger, text);
    std::fs::write(&config_path, bigger).unwrap();
    let err = read_safetensors(&out, &device).unwrap_err().to_string();
    assert!(
        err.contains("encoder.layers.1") && err.contains("missing"),
        "{err}"
    );

    std::fs::write(
        &config_path,
        text.replace("nmt-transformer", "something-else"),
    )
    .unwrap();
    let err = read_safetensors(&out, &device).unwrap_err().to_string();
    assert!(
        err.contains("config.json") && err.contains("something-else"),
        "{err}"
    );
}
