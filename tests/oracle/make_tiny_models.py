#!/usr/bin/env python3
"""Two tiny random language models and llama.cpp's outputs on them, for
tests/test_llm_tiny.c.

Writes into tests/fixtures/llm/ (small enough to commit):

    tiny-qwen2.gguf            arch qwen2: 2 layers, embedding 64, 4 heads
                               (head dim 16), 2 kv heads, ffn 128, vocab 256,
                               rope theta 1e6, rms eps 1e-6, q/k/v biases,
                               its own output.weight; Q8_0, Q4_1, f32 norms
                               and biases
    tiny-llama.gguf            arch llama: 2 layers, embedding 64, 8 heads
                               (head dim 8), 4 kv heads, ffn 160, vocab 256,
                               rope theta 1e4, rms eps 1e-5, tied embeddings
                               (no output.weight); Q4_0, Q8_0, f16, f32 norms
    tiny-qwen2-k.gguf          tiny-qwen2 at embedding 256, ffn 512, written
                               in f32 and quantized Q4_K_M by llama.cpp's
                               llama_model_quantize: Q4_K, Q6_K, f32 norms
                               and biases (K types need rows of 256)
    tiny-qwen2-llamacpp.bin    llama.cpp's outputs on TOKENS for each, in the
    tiny-llama-llamacpp.bin    PCELLM2 format of make_llamacpp_fixture.py
    tiny-qwen2-k-llamacpp.bin

The weights are random (numpy, fixed seed) with scales about
1/sqrt(fan_in), which keep the activations bounded; qwen2's q and k half
again larger so attention is peaked and depends on the positions; with
tied embeddings, the layers' outputs three times larger than the token's
embedding, or the head would mostly echo the input token. The gains and
seeds were picked, among a few, for models on which llama.cpp's own
rounding flips no top 1: every top-2 gap is 2.5 (qwen2) and 4 (llama)
times the rms of that rounding's effect on the logits or more. The tensor
names and metadata keys are those llama.cpp's loader reads. The vocabulary
is GPT-2's byte level one: the 256 byte tokens and one merge, the least
llama.cpp's loader accepts (the models are never tokenized: the tests feed
token ids).

llama.cpp (llama-cpp-python) runs with 2 threads, all logits, its default
f16 KV cache and flash attention off. Then the script checks its oracle: a
float64 numpy forward pass of the weights as the file holds them, spelling
out the architecture the test means (qwen2: q/k/v biases, RoPE over pairs
(i, i + d/2); llama: pairs (2i, 2i + 1); q head h reads kv head
h / (heads / kv heads); causal), with llama.cpp's roundings added (8-bit
activations into quantized weights, f16 ones into f16 weights, the f16 KV
cache), must give llama.cpp's logits: it does to about 1e-14 normalised
MSE at every position where no value lands on the other side of an int8
or f16 rounding step than in llama.cpp's float32 (tiny-qwen2: all 24;
tiny-llama, whose f16 weights round its activations: all but 9, which
differ by 1e-5 to 2e-4). It prints how far llama.cpp is from the same pass
without those roundings (what pce's exact reference kernels compute), and
from variants that each get one thing wrong (the other RoPE pairing, no
biases, the wrong kv head, no causal mask): what the test's bounds must
tell apart.

tiny-qwen2-k is the exception: llama.cpp rounds activations into K-quant
weights with one scale per 256 (Q8_K), which the rounding pass does not
model; its exact pass is 2.9e-4 from llama.cpp with the same top 1 at all
24 positions, and the wrong variants 0.05 to 0.6.

    /tmp/venv-oracle/bin/python tests/oracle/make_tiny_models.py [--only NAME]
"""
import argparse
import os
import struct
import sys

import numpy as np
import gguf
from gguf import GGMLQuantizationType as Q

# 24 token ids with repeats, so attention over earlier positions matters
TOKENS = [1, 17, 42, 200, 3, 99, 128, 255, 64, 7, 17, 42, 150, 33, 0, 250, 77, 5, 180, 42,
          17, 91, 12, 222]

MODELS = {
    "tiny-qwen2": dict(arch="qwen2", layers=2, embd=64, heads=4, kv_heads=2, ffn=128, vocab=256,
                       theta=1e6, eps=1e-6, bias=True, tied=False, qk_gain=1.5, resid_gain=1.0,
                       seed=20240602),
    "tiny-llama": dict(arch="llama", layers=2, embd=64, heads=8, kv_heads=4, ffn=160, vocab=256,
                       theta=1e4, eps=1e-5, bias=False, tied=True, qk_gain=1.0, resid_gain=3.0,
                       seed=20240602),
    # the K-quants (Q4_K_M: Q4_K, Q6_K, and Q5_0 where llama.cpp chooses it),
    # the DeepSeek distills' formats: written in f32, then quantized by
    # llama.cpp's own llama_model_quantize, so the types and their encoding
    # are llama.cpp's (gguf-py cannot quantize K types)
    "tiny-qwen2-k": dict(arch="qwen2", layers=2, embd=256, heads=4, kv_heads=2, ffn=512,
                         vocab=256, theta=1e6, eps=1e-6, bias=True, tied=False, qk_gain=1.5,
                         resid_gain=1.0, seed=20240602, requant="Q4_K_M"),
}

# each tensor's type (per layer where it varies), chosen to cover the types
TYPES = {
    "tiny-qwen2": {
        "token_embd": Q.Q8_0, "output": Q.Q4_1,
        "attn_q": (Q.Q4_1, Q.Q8_0), "attn_k": (Q.Q4_1, Q.Q8_0), "attn_v": (Q.Q8_0, Q.Q4_1),
        "attn_output": (Q.Q8_0, Q.Q4_1), "ffn_gate": (Q.Q4_1, Q.Q8_0),
        "ffn_up": (Q.Q4_1, Q.Q8_0), "ffn_down": (Q.Q8_0, Q.Q4_1),
    },
    "tiny-llama": {
        "token_embd": Q.Q8_0,
        "attn_q": (Q.Q4_0, Q.Q8_0), "attn_k": (Q.Q4_0, Q.F16), "attn_v": (Q.F16, Q.Q4_0),
        "attn_output": (Q.Q8_0, Q.Q4_0), "ffn_gate": (Q.Q4_0, Q.F16),
        "ffn_up": (Q.Q8_0, Q.Q4_0), "ffn_down": (Q.F16, Q.Q8_0),
    },
    "tiny-qwen2-k": {"token_embd": Q.F32, "output": Q.F32,
                     **{k: (Q.F32,) for k in ("attn_q", "attn_k", "attn_v", "attn_output",
                                              "ffn_gate", "ffn_up", "ffn_down")}},
}


def bytes_to_unicode():
    """GPT-2's byte to printable character map (the byte level BPE alphabet)."""
    bs = (list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) +
          list(range(ord("®"), ord("ÿ") + 1)))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, (chr(c) for c in cs)))


def make_weights(cfg):
    """The model's float32 weights, by GGUF tensor name, [out, in] like GGUF's
    numpy view (in innermost)."""
    rng = np.random.default_rng(cfg["seed"])
    D, F, V = cfg["embd"], cfg["ffn"], cfg["vocab"]
    Dh = D // cfg["heads"]
    Dkv = cfg["kv_heads"] * Dh

    def mat(out, inp, gain=1.0):
        return (rng.standard_normal((out, inp)) * gain / np.sqrt(inp)).astype(np.float32)

    def norm(n):
        return (1.0 + 0.2 * rng.standard_normal(n)).astype(np.float32)

    w = {"token_embd.weight": rng.standard_normal((V, D)).astype(np.float32)}
    for l in range(cfg["layers"]):
        p = f"blk.{l}."
        w[p + "attn_norm.weight"] = norm(D)
        w[p + "attn_q.weight"] = mat(D, D, cfg["qk_gain"])
        w[p + "attn_k.weight"] = mat(Dkv, D, cfg["qk_gain"])
        w[p + "attn_v.weight"] = mat(Dkv, D)
        if cfg["bias"]:
            w[p + "attn_q.bias"] = (0.5 * rng.standard_normal(D)).astype(np.float32)
            w[p + "attn_k.bias"] = (0.5 * rng.standard_normal(Dkv)).astype(np.float32)
            w[p + "attn_v.bias"] = (0.5 * rng.standard_normal(Dkv)).astype(np.float32)
        w[p + "attn_output.weight"] = mat(D, D, cfg["resid_gain"])
        w[p + "ffn_norm.weight"] = norm(D)
        w[p + "ffn_gate.weight"] = mat(F, D)
        w[p + "ffn_up.weight"] = mat(F, D)
        w[p + "ffn_down.weight"] = mat(D, F, cfg["resid_gain"])
    w["output_norm.weight"] = norm(D)
    if not cfg["tied"]:
        w["output.weight"] = mat(V, D, 3.0)
    return w


def tensor_type(name, types):
    parts = name.split(".")
    if parts[-1] == "bias" or "norm" in parts[-2]:
        return Q.F32
    if parts[0] == "blk":
        t = types[parts[2]]
        return t[int(parts[1]) % len(t)]
    return types[parts[0]]


def write_gguf(path, cfg, weights, types):
    """Writes the GGUF; returns the weights as the file holds them: name:
    (dequantized values, type, Q4_1's minimums or None)."""
    arch = cfg["arch"]
    wr = gguf.GGUFWriter(path, arch)
    wr.add_name(os.path.basename(path)[:-5])
    wr.add_context_length(256)
    wr.add_embedding_length(cfg["embd"])
    wr.add_block_count(cfg["layers"])
    wr.add_feed_forward_length(cfg["ffn"])
    wr.add_head_count(cfg["heads"])
    wr.add_head_count_kv(cfg["kv_heads"])
    wr.add_rope_freq_base(cfg["theta"])
    wr.add_layer_norm_rms_eps(cfg["eps"])
    wr.add_rope_dimension_count(cfg["embd"] // cfg["heads"])
    wr.add_vocab_size(cfg["vocab"])
    wr.add_file_type(gguf.LlamaFileType.MOSTLY_Q8_0)
    b2u = bytes_to_unicode()
    wr.add_tokenizer_model("gpt2")
    wr.add_tokenizer_pre("default")
    wr.add_token_list([b2u[b] for b in range(256)])
    wr.add_token_types([gguf.TokenType.NORMAL] * 256)
    wr.add_token_merges(["Ġ t"])
    wr.add_bos_token_id(1)
    wr.add_eos_token_id(2)
    wr.add_add_bos_token(False)
    wr.add_quantization_version(gguf.GGML_QUANT_VERSION)
    held = {}
    for name, x in weights.items():
        t = tensor_type(name, types)
        m = None
        if t == Q.F32:
            wr.add_tensor(name, x)
            v = x.astype(np.float64)
        elif t == Q.F16:
            wr.add_tensor(name, x.astype(np.float16))
            v = f16(x)
        else:
            q = gguf.quants.quantize(x, t)
            wr.add_tensor(name, q, raw_dtype=t)
            v = gguf.quants.dequantize(q, t).astype(np.float64)
            if t == Q.Q4_1:  # block: f16 scale, f16 minimum, 16 bytes
                m = q.reshape(q.shape[0], -1, 20)[..., 2:4].copy().view(np.float16)[..., 0]
                m = m.astype(np.float64)
        held[name] = (v, t, m)
    wr.write_header_to_file()
    wr.write_kv_data_to_file()
    wr.write_tensors_to_file()
    wr.close()
    return held


def requantize(src, dst, ftype, threads):
    """llama.cpp's own quantizer, src (f32) to dst."""
    import ctypes
    import llama_cpp
    p = llama_cpp.llama_model_quantize_default_params()
    p.nthread = threads
    p.ftype = getattr(llama_cpp, "LLAMA_FTYPE_MOSTLY_" + ftype)
    rc = llama_cpp.llama_model_quantize(src.encode(), dst.encode(), ctypes.byref(p))
    assert rc == 0, f"llama_model_quantize: {rc}"


def read_held(path):
    """The weights as a GGUF file holds them, as write_gguf returns them."""
    held = {}
    for t in gguf.GGUFReader(path).tensors:
        v = gguf.quants.dequantize(t.data, t.tensor_type).astype(np.float64)
        held[t.name] = (v.reshape(v.shape[0], -1) if v.ndim > 1 else v, t.tensor_type, None)
    return held


def llamacpp_logits(path, threads):
    from llama_cpp import Llama
    llm = Llama(model_path=path, n_ctx=256, logits_all=True, n_threads=threads,
                n_threads_batch=threads, n_batch=256, flash_attn=False, verbose=False)
    llm.reset()
    llm.eval(TOKENS)
    scores = np.array(llm.scores[:len(TOKENS)], dtype=np.float32)
    del llm
    return scores


def write_ref(path, scores):
    """PCELLM2, exactly as tests/oracle/make_llamacpp_fixture.py writes it."""
    n = len(TOKENS)
    top1 = scores.argmax(axis=1).astype(np.int32)
    with open(path, "wb") as f:
        f.write(b"PCELLM2\0")
        f.write(struct.pack("<ii", n, scores.shape[1]))
        f.write(np.array(TOKENS, dtype="<i4").tobytes())
        f.write(top1.astype("<i4").tobytes())
        f.write(scores[n - 1].astype("<f4").tobytes())
        top5 = np.argsort(-scores, axis=1, kind="stable")[:, :5].astype(np.int32)
        f.write(top5.astype("<i4").tobytes())
        f.write(np.take_along_axis(scores, top5, axis=1).astype("<f4").tobytes())


def f16(x):
    """Rounded to f16 from float32, as llama.cpp rounds its float32 values."""
    return np.asarray(x).astype(np.float32).astype(np.float16).astype(np.float64)


def act_q8(x, m=None):
    """llama.cpp's 8-bit activations (block_q8_0 / block_q8_1: scale amax/127
    stored as f16, values rounded to int8) as the float64 values they stand
    for. With m (Q4_1's per block minimums, [out, blocks]) also the term
    Q4_1 x Q8_1 adds: m times the block's sum, which q8_1 keeps as its own
    f16 (d * sum(q) rounded once) rather than as f16(d) * sum(q)."""
    sh = x.shape
    b = x.reshape(-1, 32).astype(np.float32)  # in float32, as llama.cpp's x86 code
    amax = np.abs(b).max(1, keepdims=True)
    d = amax / np.float32(127)
    q = np.round(b * (np.float32(127) / np.where(amax > 0, amax, 1))).astype(np.float64)
    d16 = f16(d)
    xq = (q * d16).reshape(sh)
    if m is None:
        return xq, 0.0
    nb = sh[-1] // 32
    s16 = f16(d[:, 0] * q.sum(1).astype(np.float32)).reshape(-1, nb)
    return xq, (s16 - (d16[:, 0] * q.sum(1)).reshape(-1, nb)) @ m.T


def forward(cfg, held, rounding=False, rope="auto", bias=True, gqa="div", causal=True):
    """A float64 numpy forward pass over TOKENS: logits [n, vocab]. held: the
    weights as the file holds them (name: (dequantized values, type, Q4_1
    minimums or None)). rounding: also round where llama.cpp's CPU backend
    does (8-bit activations into quantized weights, f16 activations into f16
    weights, the f16 KV cache and the f16 q and probabilities that meet it).
    The other arguments get one thing wrong on purpose."""
    D, H, Hkv, L = cfg["embd"], cfg["heads"], cfg["kv_heads"], cfg["layers"]
    Dh, G, eps = D // H, H // Hkv, cfg["eps"]
    neox = cfg["arch"] == "qwen2" if rope == "auto" else rope == "neox"
    toks = np.array(TOKENS)
    T = len(toks)
    inv = cfg["theta"] ** (-np.arange(0, Dh, 2, dtype=np.float64) / Dh)  # Dh/2
    ang = np.arange(T, dtype=np.float64)[:, None] * inv[None, :]
    cos, sin = np.cos(ang)[:, None, :], np.sin(ang)[:, None, :]  # T, 1, Dh/2
    kv = f16 if rounding else (lambda y: y)

    def lin(x, name):
        v, t, m = held[name]
        if not rounding or t == Q.F32:
            return x @ v.T
        if t == Q.F16:
            return f16(x) @ v.T
        xq, extra = act_q8(x, m)
        return xq @ v.T + extra

    def rms(x, name):
        return x / np.sqrt((x * x).mean(-1, keepdims=True) + eps) * held[name][0]

    def rot(x):  # T, heads, Dh
        if neox:  # pairs (i, i + Dh/2)
            a, b = x[..., :Dh // 2], x[..., Dh // 2:]
            return np.concatenate([a * cos - b * sin, a * sin + b * cos], -1)
        a, b = x[..., 0::2], x[..., 1::2]  # pairs (2i, 2i + 1)
        y = np.empty_like(x)
        y[..., 0::2], y[..., 1::2] = a * cos - b * sin, a * sin + b * cos
        return y

    x = held["token_embd.weight"][0][toks]
    mask = np.triu(np.full((T, T), -np.inf), 1) if causal else np.zeros((T, T))
    for l in range(L):
        p = f"blk.{l}."
        h = rms(x, p + "attn_norm.weight")
        q, k, v = (lin(h, p + f"attn_{n}.weight") for n in "qkv")
        if cfg["bias"] and bias:
            q, k, v = (y + held[p + f"attn_{n}.bias"][0] for y, n in zip((q, k, v), "qkv"))
        q, k, v = rot(q.reshape(T, H, Dh)), rot(k.reshape(T, Hkv, Dh)), v.reshape(T, Hkv, Dh)
        o = np.empty((T, H, Dh))
        for hd in range(H):
            kh = hd // G if gqa == "div" else hd % Hkv
            s = kv(q[:, hd]) @ kv(k[:, kh]).T / np.sqrt(Dh) + mask
            s = np.exp(s - s.max(-1, keepdims=True))
            o[:, hd] = kv(s / s.sum(-1, keepdims=True)) @ kv(v[:, kh])
        x = x + lin(o.reshape(T, D), p + "attn_output.weight")
        h = rms(x, p + "ffn_norm.weight")
        g, u = lin(h, p + "ffn_gate.weight"), lin(h, p + "ffn_up.weight")
        x = x + lin(g / (1 + np.exp(-g)) * u, p + "ffn_down.weight")
    x = rms(x, "output_norm.weight")
    return lin(x, "token_embd.weight" if cfg["tied"] else "output.weight")


def nmse(a, b):
    return float(((a - b) ** 2).sum() / (b * b).sum())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                  "..", "fixtures", "llm"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--only", help="this model alone")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    for name, cfg in MODELS.items():
        if a.only and name != a.only:
            continue
        path = os.path.join(a.out, name + ".gguf")
        if "requant" in cfg:
            f32 = path + ".f32"
            write_gguf(f32, cfg, make_weights(cfg), TYPES[name])
            requantize(f32, path, cfg["requant"], a.threads)
            os.remove(f32)
            held = read_held(path)
            kinds = sorted({Q(t).name for _, t, _ in held.values()})
            print(f"{name}: llama.cpp's {cfg['requant']} gives {', '.join(kinds)}")
        else:
            held = write_gguf(path, cfg, make_weights(cfg), TYPES[name])
        scores = llamacpp_logits(path, a.threads)
        ref = os.path.join(a.out, name + "-llamacpp.bin")
        write_ref(ref, scores)
        s = np.sort(scores, axis=1)
        gap = s[:, -1] - s[:, -2]
        top1 = [int(t) for t in scores.argmax(1)[:8]]
        rms = np.sqrt((scores ** 2).mean())
        print(f"{name}: {os.path.getsize(path)} bytes; {ref}: top1 {top1}..., logits rms "
              f"{rms:.3g}, smallest top-2 gap {gap.min():.3g}")
        for what, kw in {"exact": {}, "with llama.cpp's roundings": dict(rounding=True)}.items():
            y = forward(cfg, held, **kw)
            print(f"  numpy float64 {what} vs llama.cpp: last logits nmse "
                  f"{nmse(y[-1], scores[-1]):.3g}, all positions {nmse(y, scores):.3g}, top 1 "
                  f"equal at {int((y.argmax(1) == scores.argmax(1)).sum())}/{len(TOKENS)}")
            if kw:
                close = sum(nmse(y[i], scores[i]) < 1e-9 for i in range(len(TOKENS)))
                print(f"  positions within 1e-9 of llama.cpp: {close}/{len(TOKENS)}")
            else:
                err = np.sqrt(((y - scores) ** 2).mean(axis=1))
                print(f"  top-2 gap / rms of that difference, per position: at least "
                      f"{(gap / err).min():.2g}")
        # the oracle is the model described above: llama.cpp's logits are that
        # model's, up to values that land on the other side of an int8 or f16
        # rounding step (this pass computes in float64, llama.cpp in float32)
        assert nmse(y, scores) < 1e-3 and (y.argmax(1) == scores.argmax(1)).all(), \
            "llama.cpp did not compute the model this script means"
        variants = {"the other rope pairing": dict(rope="normal" if cfg["arch"] == "qwen2"
                                                   else "neox"),
                    "kv head h % n_kv": dict(gqa="mod"), "no causal mask": dict(causal=False)}
        if cfg["bias"]:
            variants["no q/k/v biases"] = dict(bias=False)
        for what, kw in variants.items():
            y = forward(cfg, held, rounding=True, **kw)
            print(f"  wrong ({what}): last logits nmse {nmse(y[-1], scores[-1]):.3g}, all "
                  f"positions {nmse(y, scores):.3g}, top 1 equal at "
                  f"{int((y.argmax(1) == scores.argmax(1)).sum())}/{len(TOKENS)}")


if __name__ == "__main__":
    sys.exit(main())
