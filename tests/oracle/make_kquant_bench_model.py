#!/usr/bin/env python3
"""A random qwen2 model of a real layer size, quantized Q4_K_M by
llama.cpp's own quantizer, for comparing pce's and llama.cpp's speed on the
K-quants (the DeepSeek distills' formats) with speed_vs_llamacpp.py: 4
layers, hidden 2048, 16 heads over 4 kv heads, ffn 5632, vocab 256; about
100 MB (Q4_K, with Q6_K where llama.cpp's Q4_K_M puts it). Not committed:
made where it is needed, in a minute.

    /tmp/venv-oracle/bin/python tests/oracle/make_kquant_bench_model.py OUT.gguf
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_tiny_models as m  # noqa: E402
from gguf import GGMLQuantizationType as Q  # noqa: E402

CFG = dict(arch="qwen2", layers=4, embd=2048, heads=16, kv_heads=4, ffn=5632, vocab=256,
           theta=1e6, eps=1e-6, bias=True, tied=False, qk_gain=1.5, resid_gain=1.0, seed=1)
F32 = {"token_embd": Q.F32, "output": Q.F32,
       **{k: (Q.F32,) for k in ("attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate",
                                "ffn_up", "ffn_down")}}


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out = sys.argv[1]
    m.write_gguf(out + ".f32", CFG, m.make_weights(CFG), F32)
    m.requantize(out + ".f32", out, "Q4_K_M", 2)
    os.remove(out + ".f32")
    print(f"{out}: {os.path.getsize(out)} bytes")


if __name__ == "__main__":
    main()
