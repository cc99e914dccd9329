#!/usr/bin/env python3
"""Converts an nmt safetensors export (`nmt export --format safetensors`) into a CTranslate2
model directory, through CTranslate2's own spec API (so the file format is CTranslate2's
business, not ours). `nmt export --format ctranslate2` runs this very script; it can also be
run by hand:

    python3 scripts/ctranslate2_convert.py EXPORT_DIR OUTPUT_DIR [--quantization int8]

Needs: pip install ctranslate2 safetensors numpy tokenizers
"""

import argparse
import json
import os
import sys

import numpy as np
from ctranslate2.converters.converter import Converter
from ctranslate2.specs import common_spec, transformer_spec
from safetensors.numpy import load_file
from tokenizers import Tokenizer

ACTIVATIONS = {"relu": common_spec.Activation.RELU, "gelu": common_spec.Activation.GELU}


def vocabulary(path):
    """The tokenizer's tokens in id order (CTranslate2 maps tokens to ids by position)."""
    vocab = Tokenizer.from_file(path).get_vocab(with_added_tokens=True)
    tokens = [None] * (max(vocab.values()) + 1)
    for token, i in vocab.items():
        tokens[i] = token
    missing = [i for i, t in enumerate(tokens) if t is None]
    if missing:
        sys.exit(f"{path}: ids {missing[:5]} have no token")
    return tokens


class NmtConverter(Converter):
    def __init__(self, export_dir):
        self._dir = export_dir

    def _load(self):
        with open(os.path.join(self._dir, "config.json")) as f:
            cfg = json.load(f)
        if cfg.get("format") != "nmt-transformer" or cfg.get("format_version") != 1:
            sys.exit(f"{self._dir}: not an nmt-transformer version 1 export")
        m = cfg["model"]
        w = load_file(os.path.join(self._dir, "model.safetensors"))
        pre_norm = m["norm"] == "pre"
        spec = transformer_spec.TransformerSpec.from_config(
            (m["encoder_layers"], m["decoder_layers"]),
            m["heads"],
            pre_norm=pre_norm,
            activation=ACTIVATIONS[m["activation"]],
        )
        spec.config.layer_norm_epsilon = m["layer_norm_eps"]

        def linear(spec_linear, prefix):
            spec_linear.weight = w[prefix + ".weight"]
            if prefix + ".bias" in w:
                spec_linear.bias = w[prefix + ".bias"]

        def norm(spec_norm, prefix):
            spec_norm.gamma = w[prefix + ".weight"]
            spec_norm.beta = w[prefix + ".bias"]

        def fused(spec_linear, prefixes):
            spec_linear.weight = np.concatenate([w[p + ".weight"] for p in prefixes])
            spec_linear.bias = np.concatenate([w[p + ".bias"] for p in prefixes])

        def attention(spec_attn, prefix, self_attention):
            if self_attention:
                fused(spec_attn.linear[0], [f"{prefix}.{p}_proj" for p in "qkv"])
            else:
                linear(spec_attn.linear[0], f"{prefix}.q_proj")
                fused(spec_attn.linear[1], [f"{prefix}.{p}_proj" for p in "kv"])
            linear(spec_attn.linear[-1], f"{prefix}.out_proj")

        def ffn(spec_ffn, prefix):
            norm(spec_ffn.layer_norm, prefix + ".final_layer_norm")
            linear(spec_ffn.linear_0, prefix + ".fc1")
            linear(spec_ffn.linear_1, prefix + ".fc2")

        scale = cfg["embedding_scale"]
        if abs(scale - m["d_model"] ** 0.5) > 1e-6:
            sys.exit(f"embedding scale {scale} is not sqrt(d_model): CTranslate2 cannot express it")
        shared = "encoder.embed_tokens.weight" not in w
        src_embed = w["decoder.embed_tokens.weight" if shared else "encoder.embed_tokens.weight"]

        enc = spec.encoder
        enc.embeddings[0].weight = src_embed
        enc.scale_embeddings = True
        enc.position_encodings.encodings = w["encoder.embed_positions.weight"]
        for i, layer in enumerate(enc.layer):
            p = f"encoder.layers.{i}"
            attention(layer.self_attention, p + ".self_attn", True)
            norm(layer.self_attention.layer_norm, p + ".self_attn_layer_norm")
            ffn(layer.ffn, p)
        if pre_norm:
            norm(enc.layer_norm, "encoder.layer_norm")

        dec = spec.decoder
        dec.embeddings.weight = w["decoder.embed_tokens.weight"]
        dec.scale_embeddings = True
        dec.position_encodings.encodings = w["decoder.embed_positions.weight"]
        for i, layer in enumerate(dec.layer):
            p = f"decoder.layers.{i}"
            attention(layer.self_attention, p + ".self_attn", True)
            norm(layer.self_attention.layer_norm, p + ".self_attn_layer_norm")
            attention(layer.attention, p + ".encoder_attn", False)
            norm(layer.attention.layer_norm, p + ".encoder_attn_layer_norm")
            ffn(layer.ffn, p)
        if pre_norm:
            norm(dec.layer_norm, "decoder.layer_norm")
        if "decoder.output_projection.weight" in w:
            linear(dec.projection, "decoder.output_projection")
        else:  # tied to the target embedding
            dec.projection.weight = w["decoder.embed_tokens.weight"]

        files = [os.path.join(self._dir, name) for name in cfg["tokenizers"]]
        spec.register_source_vocabulary(vocabulary(files[0]))
        spec.register_target_vocabulary(vocabulary(files[-1]))
        # nmt's source is the tokens then </s>; its decoder starts from <s>.
        spec.config.add_source_bos = False
        spec.config.add_source_eos = bool(cfg["source_eos"])
        spec.config.decoder_start_token = cfg["decoder_start_token"]
        return spec


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("export_dir")
    p.add_argument("output_dir")
    p.add_argument("--quantization", default=None, help="e.g. int8, int8_float32, float16")
    p.add_argument("--force", action="store_true")
    a = p.parse_args()
    NmtConverter(a.export_dir).convert(a.output_dir, quantization=a.quantization, force=a.force)
    print(a.output_dir)


if __name__ == "__main__":
    main()
