#!/usr/bin/env python3
"""Independent reference forward pass of a Hugging Face Llama / Qwen2
checkpoint directory, written from Hugging Face transformers' conventions
(modeling_llama.py / modeling_qwen2.py) with torch in float64, without
transformers itself (not packaged by Debian).

usage: hf_reference.py MODEL_DIR TOKENS_JSON OUT_JSON
TOKENS_JSON holds a list of token sequences; OUT_JSON receives, per
sequence, its logits as a list of rows (one per position).

Conventions followed (transformers 4.4x):
  - RMSNorm: x * rsqrt(mean(x^2) + eps) * weight
  - RoPE on halves (rotate_half), inv_freq = base^(-arange(0, d, 2)/d),
    rope_scaling rope_type "llama3" adjusting inv_freq
    (_compute_llama3_parameters), attention factor 1
  - grouped-query attention by repeat_kv (query head h uses key/value
    head h // (n_heads / n_kv_heads)), causal softmax(q k^T / sqrt(d))
  - q/k/v biases for qwen2, o_proj too with llama's attention_bias,
    gate/up/down with mlp_bias
  - SwiGLU MLP down(silu(gate(x)) * up(x)); lm_head, or the embedding when
    tie_word_embeddings.
"""
import json
import math
import os
import struct
import sys

import numpy as np
import torch


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        b, e = info["data_offsets"]
        raw = data[b:e]
        dt = info["dtype"]
        if dt == "BF16":
            a = (np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16).view(np.float32)
        elif dt == "F16":
            a = np.frombuffer(raw, dtype="<f2").astype(np.float32)
        elif dt == "F32":
            a = np.frombuffer(raw, dtype="<f4")
        else:
            raise SystemExit(f"{path}: tensor {name}: dtype {dt} not handled")
        out[name] = torch.tensor(a.astype(np.float64)).reshape(info["shape"])
    return out


def load(d):
    cfg = json.load(open(os.path.join(d, "config.json")))
    idx = os.path.join(d, "model.safetensors.index.json")
    tensors = {}
    if os.path.exists(idx):
        for f in sorted(set(json.load(open(idx))["weight_map"].values())):
            tensors.update(read_safetensors(os.path.join(d, f)))
    else:
        tensors.update(read_safetensors(os.path.join(d, "model.safetensors")))
    return cfg, tensors


def inv_freq(cfg, hd):
    base = cfg.get("rope_theta", 10000.0)
    f = 1.0 / (base ** (torch.arange(0, hd, 2, dtype=torch.float64) / hd))
    rs = cfg.get("rope_scaling")
    if rs:
        typ = rs.get("rope_type", rs.get("type"))
        assert typ == "llama3", typ
        factor, lo, hi = rs["factor"], rs["low_freq_factor"], rs["high_freq_factor"]
        old = rs["original_max_position_embeddings"]
        lo_wl, hi_wl = old / lo, old / hi
        wl = 2 * math.pi / f
        scaled = torch.where(wl > lo_wl, f / factor, f)
        smooth = (old / wl - lo) / (hi - lo)
        smoothed = (1 - smooth) * scaled / factor + smooth * scaled
        medium = ~(wl < hi_wl) * ~(wl > lo_wl)
        f = torch.where(medium, smoothed, scaled)
    return f


def rms(x, w, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


def linear(t, name, x):
    y = x @ t[name + ".weight"].T
    if name + ".bias" in t:
        y = y + t[name + ".bias"]
    return y


def forward(cfg, t, tokens):
    d, nh = cfg["hidden_size"], cfg["num_attention_heads"]
    nkv = cfg.get("num_key_value_heads") or nh
    hd, eps = d // nh, cfg["rms_norm_eps"]
    T = len(tokens)
    x = t["model.embed_tokens.weight"][torch.tensor(tokens)]
    pos = torch.arange(T, dtype=torch.float64)
    freqs = torch.outer(pos, inv_freq(cfg, hd))
    emb = torch.cat((freqs, freqs), dim=-1)
    cos, sin = emb.cos(), emb.sin()
    mask = torch.full((T, T), float("-inf"), dtype=torch.float64).triu(1)
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        h = rms(x, t[p + "input_layernorm.weight"], eps)
        q = linear(t, p + "self_attn.q_proj", h).view(T, nh, hd).transpose(0, 1)
        k = linear(t, p + "self_attn.k_proj", h).view(T, nkv, hd).transpose(0, 1)
        v = linear(t, p + "self_attn.v_proj", h).view(T, nkv, hd).transpose(0, 1)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        rep = nh // nkv
        k = k.repeat_interleave(rep, dim=0)
        v = v.repeat_interleave(rep, dim=0)
        att = torch.softmax(q @ k.transpose(1, 2) / math.sqrt(hd) + mask, dim=-1) @ v
        x = x + linear(t, p + "self_attn.o_proj", att.transpose(0, 1).reshape(T, d))
        h = rms(x, t[p + "post_attention_layernorm.weight"], eps)
        g = linear(t, p + "mlp.gate_proj", h)
        u = linear(t, p + "mlp.up_proj", h)
        x = x + linear(t, p + "mlp.down_proj", torch.nn.functional.silu(g) * u)
    x = rms(x, t["model.norm.weight"], eps)
    head = t.get("lm_head.weight")
    if cfg.get("tie_word_embeddings") or head is None:
        head = t["model.embed_tokens.weight"]
    return x @ head.T


def main():
    model_dir, tokens_path, out_path = sys.argv[1:4]
    cfg, t = load(model_dir)
    seqs = json.load(open(tokens_path))
    with torch.no_grad():
        out = [forward(cfg, t, s).tolist() for s in seqs]
    json.dump(out, open(out_path, "w"))


if __name__ == "__main__":
    main()
