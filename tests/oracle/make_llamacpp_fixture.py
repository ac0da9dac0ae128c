#!/usr/bin/env python3
"""Reference outputs of llama.cpp itself for tests/test_llm.c.

Runs SmolLM2-135M-Instruct Q4_1 (tests/fetch_model.sh fetches it) through
llama-cpp-python (pip install llama-cpp-python: builds llama.cpp from
source) on a fixed 64-token sequence and writes
tests/fixtures/llm/smollm2-q4_1-llamacpp.bin:

    magic   8 bytes  b"PCELLM2\\0"
    n       i32      tokens (64)
    vocab   i32
    tokens  n x i32  the sequence
    top1    n x i32  llama.cpp's most likely next token after each position
    logits  vocab x f32  its logits after the last position
    top5    n x 5 x i32  its five most likely tokens after each position
    top5l   n x 5 x f32  and their logits (so a test can tell a near tie)

With --speed it also prints llama.cpp's prefill and decode tokens/s on the
same model with the same thread count, for comparison with `pce run`.
"""
import argparse
import os
import struct
import sys
import time

import numpy as np
from llama_cpp import Llama

TEXT = ("The quick brown fox jumps over the lazy dog. Portable compute engines run "
        "neural networks on whatever hardware a site owns: NVIDIA and AMD GPUs, CPUs "
        "with AVX-512, and laptops with only a Vulkan driver. Each backend must agree "
        "with the reference, token by token, before it is trusted with real work.")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "fixtures",
                                                  "llm", "smollm2-q4_1-llamacpp.bin"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--speed", action="store_true")
    a = ap.parse_args()
    llm = Llama(model_path=a.model, n_ctx=256, logits_all=True, n_threads=a.threads,
                n_threads_batch=a.threads, n_batch=256, verbose=False)
    toks = llm.tokenize(TEXT.encode(), add_bos=False)[:64]
    assert len(toks) == 64, len(toks)
    llm.reset()
    llm.eval(toks)
    scores = np.array(llm.scores[:64], dtype=np.float32)
    top1 = scores.argmax(axis=1).astype(np.int32)
    last = scores[63]
    os.makedirs(os.path.dirname(a.out), exist_ok=True)
    with open(a.out, "wb") as f:
        f.write(b"PCELLM2\0")
        f.write(struct.pack("<ii", 64, scores.shape[1]))
        f.write(np.array(toks, dtype="<i4").tobytes())
        f.write(top1.astype("<i4").tobytes())
        f.write(last.astype("<f4").tobytes())
        top5 = np.argsort(-scores, axis=1, kind="stable")[:, :5].astype(np.int32)
        f.write(top5.astype("<i4").tobytes())
        f.write(np.take_along_axis(scores, top5, axis=1).astype("<f4").tobytes())
    print(f"wrote {a.out}: tokens {toks[:8]}..., top1 {list(top1[:8])}...")
    if a.speed:
        # prefill: the 64 tokens in one batch; decode: 32 single-token steps
        best = 1e9
        for _ in range(3):
            llm.reset()
            t0 = time.perf_counter()
            llm.eval(toks)
            best = min(best, time.perf_counter() - t0)
        nxt = int(np.argmax(llm.scores[63]))
        t0 = time.perf_counter()
        steps = 32
        for _ in range(steps):
            llm.eval([nxt])
            nxt = int(np.argmax(llm.scores[llm.n_tokens - 1]))
        dt = time.perf_counter() - t0
        print(f"llama.cpp ({a.threads} threads): prefill 64 tokens in {best * 1e3:.1f} ms "
              f"({64 / best:.1f} tokens/s); decode {steps} tokens in {dt * 1e3:.1f} ms "
              f"({steps / dt:.1f} tokens/s)")


if __name__ == "__main__":
    sys.exit(main())
