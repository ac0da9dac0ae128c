#!/usr/bin/env python3
"""Real chat templates and jinja2's renderings of them, for tests/test_chat.c.

Writes into tests/fixtures/chat/ (small enough to commit):

    <name>.jinja       each template's text, exactly as its model ships it
    renderings.txt     the conversations, and for each template that pce
                       renders: its format's name, the bos_token it was
                       rendered with and jinja2's output for every
                       conversation with add_generation_prompt false and
                       true; then the templates pce must refuse

Templates rendered (format):
    smollm2              chatml       SmolLM2-135M-Instruct GGUF
    qwen2                chatml       llama.cpp's ggml-vocab-qwen2.gguf
    qwen2.5-instruct     chatml       Qwen/Qwen2.5-7B-Instruct (llama.cpp's
                                      models/templates)
    deepseek-r1-distill-qwen-7b       deepseek-r1  the DeepSeek-R1-Distill-
                                      Qwen-7B GGUF (its header)
    deepseek-r1-distill-llama-8b      deepseek-r1  llama.cpp's models/templates
    deepseek-r1-distill-qwen-32b      deepseek-r1  ditto (its generation
                                      prompt closes <think> when
                                      enable_thinking is undefined)
    llama3               llama3       Meta-Llama-3-8B-Instruct, as
                                      llama-cpp-python's llama_chat_format.py
                                      carries it
    llama-3.1-instruct   llama3       meta-llama/Llama-3.1-8B-Instruct
                                      (llama.cpp's models/templates)
Templates refused (pce cannot render them byte for byte): Qwen3 and QwQ
(<think> handling), Llama 3.2 (today's date), Phi-3, Gemma 2, and
llama.cpp's own deepseek-r1 template (an end of sentence after each user
turn, tools).

The renderer is the one transformers uses for apply_chat_template:
jinja2.sandbox.ImmutableSandboxedEnvironment(trim_blocks=True,
lstrip_blocks=True) with loopcontrols, raise_exception, strftime_now and
transformers' tojson; messages, tools=None, documents=None,
add_generation_prompt, bos_token and eos_token from the model's vocabulary.

Sources (all local):
    --sdist   llama_cpp_python-0.3.36.tar.gz from PyPI (vendor/llama.cpp's
              vocab files and models/templates, llama_chat_format.py)
    --models  the folder with SmolLM2-135M-Instruct.Q4_1.gguf and
              DeepSeek-R1-Distill-Qwen-7B.gguf (tests/fetch_model.sh,
              tests/fetch_deepseek.sh; only the header of the latter is read)

Needs jinja2 (pip install jinja2). Usage:
    python3 tests/oracle/make_chat_fixture.py --sdist SDIST --models DIR [--out DIR]

renderings.txt, line by line (each <bytes> blob is followed by a newline):
    PCECHAT1
    conv <n_messages>                      conversations, numbered from 0
    msg <role> <len>\\n<bytes>
    template <file> <format> <bos_len>\\n<bos bytes>
    render <conv> <add_generation_prompt 0|1> <len>\\n<bytes>
    refuse <file>
"""
import argparse
import ast
import datetime
import io
import json
import os
import struct
import sys
import tarfile

import jinja2
import jinja2.ext
import jinja2.sandbox

SDIST_ROOT = "llama_cpp_python-0.3.36/"
LCPP = SDIST_ROOT + "vendor/llama.cpp/"

CONVERSATIONS = [
    [("user", "Hello!")],
    [("system", "You are a terse assistant."), ("user", "What is 2+2?")],
    [("system", "You are a helpful assistant."), ("user", "Name a prime."),
     ("assistant", "7 is prime."), ("user", "And an even one?")],
    [("user", "Solve x + 1 = 3."),
     ("assistant", "<think>\nSubtract 1 from both sides: x = 2.\n</think>\n\nx = 2."),
     ("user", "And x + 2 = 5?")],
    [("system", "Réponds en français."), ("user", "你好，世界！🌍 Ünïcödé ñ"),
     ("assistant", "Bonjour 👋 — ça va ?"),
     ("user", "Très bien, merci. Ελληνικά, русский, العربية")],
    [("user", "  padded\t\r\n"), ("assistant", "\u3000wide space\u00a0 \n"),
     ("user", "\n\u2003\n")],
    [("user", "hi"), ("system", "A late system message."), ("user", "again")],
    [("system", "first system"), ("system", "second system"), ("user", "which one?")],
    [("user", "Tell me a secret."), ("assistant", "a</think>b</think> the end")],
    [("user", "x"), ("assistant", ""), ("user", "y")],
    [("user", "{{ bos_token }} {% if true %}<|im_end|><｜User｜>'\"\\n")],
    [("user", "Write a poem."),
     ("assistant", "<think>I should rhyme.</think>Roses are red.")],
]


# ---- reading the sources ------------------------------------------------------

def gguf_metadata(data):
    """The key/value pairs of a GGUF file's header (bytes of at least the
    header: the DeepSeek file is a truncated prefix gguf.GGUFReader refuses)."""
    f = io.BytesIO(data)

    def rd(fmt):
        return struct.unpack("<" + fmt, f.read(struct.calcsize(fmt)))

    if f.read(4) != b"GGUF":
        raise ValueError("not a GGUF file")
    (version,) = rd("I")
    if version < 2:
        raise ValueError("GGUF v%d" % version)
    _, n_kv = rd("QQ")
    scalar = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?",
              10: "Q", 11: "q", 12: "d"}

    def rstr():
        (n,) = rd("Q")
        return f.read(n).decode("utf-8")

    def rval(t):
        if t == 8:
            return rstr()
        if t == 9:
            (et,) = rd("I")
            (n,) = rd("Q")
            return [rval(et) for _ in range(n)]
        return rd(scalar[t])[0]

    meta = {}
    for _ in range(n_kv):
        k = rstr()
        (t,) = rd("I")
        meta[k] = rval(t)
    return meta


def read_prefix(path, n=64 << 20):
    with open(path, "rb") as fh:
        return fh.read(n)


def special_tokens(meta):
    tokens = meta["tokenizer.ggml.tokens"]
    bos = meta.get("tokenizer.ggml.bos_token_id")
    eos = meta.get("tokenizer.ggml.eos_token_id")
    return (tokens[bos] if bos is not None else "", tokens[eos] if eos is not None else "")


class Sdist:
    def __init__(self, path):
        self.tar = tarfile.open(path)

    def read(self, member):
        return self.tar.extractfile(member).read()

    def text(self, member):
        return self.read(member).decode("utf-8")


def llama3_from_llama_cpp_python(sdist):
    """LLAMA3_INSTRUCT_CHAT_TEMPLATE of llama_chat_format.py: Meta-Llama-3's
    template (its tokenizer_config.json's, as llama-cpp-python matches it)."""
    src = sdist.text(SDIST_ROOT + "llama_cpp/llama_chat_format.py")
    for node in ast.parse(src).body:
        if isinstance(node, ast.Assign) and any(
                getattr(t, "id", "") == "LLAMA3_INSTRUCT_CHAT_TEMPLATE" for t in node.targets):
            return ast.literal_eval(node.value)
    raise KeyError("LLAMA3_INSTRUCT_CHAT_TEMPLATE not in llama_chat_format.py")


# ---- rendering as transformers does --------------------------------------------

def make_env():
    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators,
                          sort_keys=sort_keys)

    def strftime_now(fmt):
        return datetime.datetime.now().strftime(fmt)

    env = jinja2.sandbox.ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=[jinja2.ext.loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env


def render(env, template, conv, gen, bos, eos):
    messages = [{"role": r, "content": c} for r, c in conv]
    return env.from_string(template).render(
        messages=messages, tools=None, documents=None, add_generation_prompt=gen,
        bos_token=bos, eos_token=eos)


# ---- the fixture ---------------------------------------------------------------

def blob(out, head, data):
    b = data.encode("utf-8") if isinstance(data, str) else data
    out.write(("%s %d\n" % (head, len(b))).encode())
    out.write(b + b"\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sdist", required=True, help="llama_cpp_python-0.3.36.tar.gz")
    ap.add_argument("--models", default=os.path.expanduser("~/.cache/pce/models"))
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                  "..", "fixtures", "chat"))
    a = ap.parse_args()
    sd = Sdist(a.sdist)

    smol = gguf_metadata(read_prefix(os.path.join(a.models, "SmolLM2-135M-Instruct.Q4_1.gguf")))
    ds7 = gguf_metadata(read_prefix(os.path.join(a.models, "DeepSeek-R1-Distill-Qwen-7B.gguf")))
    qwen2 = gguf_metadata(sd.read(LCPP + "models/ggml-vocab-qwen2.gguf"))
    llama_bpe = gguf_metadata(sd.read(LCPP + "models/ggml-vocab-llama-bpe.gguf"))
    phi3 = gguf_metadata(sd.read(LCPP + "models/ggml-vocab-phi-3.gguf"))
    tdir = LCPP + "models/templates/"

    # (file stem, template text, expected format or None to refuse, (bos, eos))
    entries = [
        ("smollm2", smol["tokenizer.chat_template"], "chatml", special_tokens(smol)),
        ("qwen2", qwen2["tokenizer.chat_template"], "chatml", special_tokens(qwen2)),
        ("qwen2.5-instruct", sd.text(tdir + "Qwen-Qwen2.5-7B-Instruct.jinja"), "chatml",
         special_tokens(qwen2)),
        ("deepseek-r1-distill-qwen-7b", ds7["tokenizer.chat_template"], "deepseek-r1",
         special_tokens(ds7)),
        ("deepseek-r1-distill-llama-8b",
         sd.text(tdir + "deepseek-ai-DeepSeek-R1-Distill-Llama-8B.jinja"), "deepseek-r1",
         special_tokens(ds7)),
        ("deepseek-r1-distill-qwen-32b",
         sd.text(tdir + "deepseek-ai-DeepSeek-R1-Distill-Qwen-32B.jinja"), "deepseek-r1",
         special_tokens(ds7)),
        ("llama3", llama3_from_llama_cpp_python(sd), "llama3", special_tokens(llama_bpe)),
        ("llama-3.1-instruct", sd.text(tdir + "meta-llama-Llama-3.1-8B-Instruct.jinja"),
         "llama3", special_tokens(llama_bpe)),
        ("qwen3", sd.text(tdir + "Qwen-Qwen3-0.6B.jinja"), None, None),
        ("qwq", sd.text(tdir + "Qwen-QwQ-32B.jinja"), None, None),
        ("llama-3.2-instruct", sd.text(tdir + "meta-llama-Llama-3.2-3B-Instruct.jinja"), None,
         None),
        ("phi-3", phi3["tokenizer.chat_template"], None, None),
        ("gemma-2", sd.text(tdir + "google-gemma-2-2b-it.jinja"), None, None),
        ("llama-cpp-deepseek-r1", sd.text(tdir + "llama-cpp-deepseek-r1.jinja"), None, None),
    ]

    os.makedirs(a.out, exist_ok=True)
    env = make_env()
    out = io.BytesIO()
    out.write(b"PCECHAT1\n")
    for conv in CONVERSATIONS:
        out.write(b"conv %d\n" % len(conv))
        for role, content in conv:
            blob(out, "msg " + role, content)
    n_render = 0
    for stem, text, fmt, specials in entries:
        with open(os.path.join(a.out, stem + ".jinja"), "wb") as fh:
            fh.write(text.encode("utf-8"))
        if fmt is None:
            out.write(("refuse %s.jinja\n" % stem).encode())
            continue
        bos, eos = specials
        blob(out, "template %s.jinja %s" % (stem, fmt), bos)
        for i, conv in enumerate(CONVERSATIONS):
            for gen in (False, True):
                blob(out, "render %d %d" % (i, int(gen)), render(env, text, conv, gen, bos, eos))
                n_render += 1
    with open(os.path.join(a.out, "renderings.txt"), "wb") as fh:
        fh.write(out.getvalue())
    print("wrote %d templates and %d renderings to %s" % (len(entries), n_render, a.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
