//! Every value out of range, in every section, is refused when the config is loaded, with the
//! key named and what is allowed.

use std::path::PathBuf;

use nmt_train::RunConfig;

fn config_file(dir: &std::path::Path) -> PathBuf {
    let path = dir.join("c.toml");
    std::fs::write(
        &path,
        "[data]\nsrc_lang = \"en\"\ntgt_lang = \"de\"\ntrain = \"data/quickstart/train\"\n",
    )
    .unwrap();
    path
}

#[test]
fn every_out_of_range_value_names_its_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = config_file(dir.path());
    RunConfig::load(&path, &[]).expect("the defaults are valid");
    // (override, what the message must say)
    let cases: &[(&str, &str)] = &[
        (
            "data.src_lang=\"\"",
            "data.src_lang = \"\": must be a language code",
        ),
        (
            "data.tgt_lang=\"a/b\"",
            "data.tgt_lang = \"a/b\": must be a language code",
        ),
        ("data.max_len=0", "data.max_len = 0: must be at least 1"),
        (
            "data.max_len_ratio=0.5",
            "data.max_len_ratio = 0.5: must be at least 1.0",
        ),
        (
            "data.max_len_ratio=nan",
            "data.max_len_ratio = NaN: must be at least 1.0",
        ),
        (
            "data.max_tokens=100",
            "data.max_tokens = 100: must exceed data.max_len = 128",
        ),
        (
            "data.bucket_pool=0",
            "data.bucket_pool = 0: must be at least 1",
        ),
        (
            "tokenizer.vocab_size=260",
            "tokenizer.vocab_size = 260: must be more than 260",
        ),
        (
            "tokenizer.min_frequency=0",
            "tokenizer.min_frequency = 0: must be at least 1",
        ),
        ("model.d_model=0", "model.d_model = 0: must be at least 1"),
        ("model.heads=0", "model.heads = 0: must be at least 1"),
        ("model.ff_dim=0", "model.ff_dim = 0: must be at least 1"),
        (
            "model.encoder_layers=0",
            "model.encoder_layers = 0: must be at least 1",
        ),
        (
            "model.decoder_layers=0",
            "model.decoder_layers = 0: must be at least 1",
        ),
        (
            "model.heads=3",
            "model.d_model = 256: must be divisible by model.heads = 3",
        ),
        (
            "model.max_positions=1",
            "model.max_positions = 1: must be at least 2",
        ),
        ("model.dropout=1.0", "model.dropout = 1: must be in [0, 1)"),
        (
            "model.attention_dropout=-0.1",
            "model.attention_dropout = -0.1: must be in [0, 1)",
        ),
        (
            "model.activation_dropout=2",
            "model.activation_dropout = 2: must be in [0, 1)",
        ),
        (
            "model.layer_norm_eps=0",
            "model.layer_norm_eps = 0: must be a small positive",
        ),
        (
            "train.accum_steps=0",
            "train.accum_steps = 0: must be at least 1",
        ),
        (
            "train.label_smoothing=1.0",
            "train.label_smoothing = 1: must be in [0, 1)",
        ),
        ("train.lr=0", "train.lr = 0: must be a positive number"),
        (
            "train.min_lr=1",
            "train.min_lr = 1: must be in [0, train.lr",
        ),
        (
            "train.max_hours=-1",
            "train.max_hours = -1: must be 0 (no limit) or a positive",
        ),
        (
            "train.max_steps=0",
            "train.max_steps = 0: set train.max_steps",
        ),
        (
            "train.checkpoint_every=0",
            "train.checkpoint_every = 0: must be at least 1",
        ),
        (
            "train.keep_last=0",
            "train.keep_last = 0: must be at least 1",
        ),
        (
            "train.betas=[1.0, 0.98]",
            "train.betas[0] = 1: must be in [0, 1)",
        ),
        (
            "train.betas=[0.9, -0.5]",
            "train.betas[1] = -0.5: must be in [0, 1)",
        ),
        (
            "train.eps=0",
            "train.eps = 0: must be a small positive number",
        ),
        (
            "train.weight_decay=-1",
            "train.weight_decay = -1: must be a number >= 0",
        ),
        (
            "train.clip_norm=-1",
            "train.clip_norm = -1: must be a number >= 0",
        ),
        ("decode.beam=0", "decode.beam = 0: must be at least 1"),
        (
            "decode.nbest=2",
            "decode.nbest = 2: must be between 1 and decode.beam = 1",
        ),
        (
            "decode.lenpen=inf",
            "decode.lenpen = inf: must be a finite number",
        ),
        (
            "decode.coverage_penalty=-1",
            "decode.coverage_penalty = -1: must be a finite number >= 0",
        ),
        (
            "decode.max_len_a=-1",
            "decode.max_len_a = -1: must be a finite number >= 0",
        ),
        (
            "decode.max_tokens=0",
            "decode.max_tokens = 0: must be at least 1",
        ),
        ("run.device=\"\"", "run.device = \"\": must name a device"),
        ("model.share_embeddings=true", ""),
        (
            "tokenizer.joint=false",
            "model.share_embeddings = true: needs tokenizer.joint = true",
        ),
        (
            "data.max_len=1024",
            "data.max_len = 1024: plus </s> must fit model.max_positions = 1024",
        ),
    ];
    for (set, want) in cases {
        let got = RunConfig::load(&path, &[set.to_string()]);
        if want.is_empty() {
            assert!(got.is_ok(), "{set} should load: {:?}", got.err());
            continue;
        }
        let err = got.expect_err(set).to_string();
        assert!(err.contains(want), "--set {set}: {err}");
        assert!(err.contains("c.toml"), "names the file: {err}");
    }
}
