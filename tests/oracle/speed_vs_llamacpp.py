#!/usr/bin/env python3
"""pce and llama.cpp on the same GGUF file, same thread count, in turns:
prefill of a 64-token prompt and greedy decode, tokens per second, and
their ratios. Not a test (timings are not pass/fail): the figures for a
closing note, measured in one run so that the machine's load hits both.

    /tmp/venv-oracle/bin/python tests/oracle/speed_vs_llamacpp.py MODEL.gguf \
        [--threads 2] [--decode 64] [--rounds 3] [--pce build/tools/pce]

Token ids: (i * 7919 + 17) % (vocab - 100) + 100, the same for both. pce's
decode figure leaves out its first step (which builds the decode plan);
llama.cpp evaluates 8 tokens once before (its warm-up). Needs
llama-cpp-python (tests/oracle/make_llamacpp_fixture.py says how).
"""
import argparse
import os
import re
import subprocess
import sys
import time

import numpy as np


def llamacpp(path, threads, toks, ndec):
    import llama_cpp
    llm = llama_cpp.Llama(model_path=path, n_ctx=512, n_threads=threads,
                          n_threads_batch=threads, n_batch=512, verbose=False)
    llm.eval(toks[:8])
    llm.reset()
    t = time.perf_counter()
    llm.eval(toks)
    tp = time.perf_counter() - t
    tok = int(np.argmax(llm.scores[llm.n_tokens - 1]))
    t = time.perf_counter()
    for _ in range(ndec):
        llm.eval([tok])
        tok = int(np.argmax(llm.scores[llm.n_tokens - 1]))
    td = time.perf_counter() - t
    del llm
    return len(toks) / tp, ndec / td


def pce(exe, path, threads, toks, ndec):
    env = dict(os.environ, PCE_NUM_THREADS=str(threads))
    out = subprocess.run([exe, "run", path, "--tokens", ",".join(map(str, toks)), "-n",
                          str(ndec + 1), "--ignore-eos"], capture_output=True, text=True,
                         env=env, check=True)
    m = re.search(r"prefill: .*\(([\d.]+) tokens/s\); decode: .*\(([\d.]+) tokens/s", out.stderr +
                  out.stdout)
    if not m:
        sys.exit("pce run printed no timing line:\n" + out.stderr)
    return float(m.group(1)), float(m.group(2))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--decode", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--pce", default="build/tools/pce")
    a = ap.parse_args()
    import gguf
    r = gguf.GGUFReader(a.model)
    vocab = next(len(f.data) for k, f in r.fields.items() if k == "tokenizer.ggml.tokens")
    toks = [(i * 7919 + 17) % (vocab - 100) + 100 for i in range(64)] if vocab > 200 else \
        [(i * 79 + 17) % (vocab - 6) + 3 for i in range(64)]
    print(f"{a.model}: {a.threads} threads, 64-token prefill, {a.decode} decoded tokens")
    print("round  pce prefill  llama.cpp  ratio   pce decode  llama.cpp  ratio")
    for i in range(a.rounds):
        pp, pd = pce(a.pce, a.model, a.threads, toks, a.decode)
        lp, ld = llamacpp(a.model, a.threads, toks, a.decode)
        print(f"{i + 1:5d}  {pp:11.1f}  {lp:9.1f}  {pp / lp:5.2f}   {pd:10.1f}  {ld:9.1f}  "
              f"{pd / ld:5.2f}")


if __name__ == "__main__":
    sys.exit(main())
