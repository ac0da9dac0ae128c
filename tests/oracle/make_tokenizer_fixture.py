#!/usr/bin/env python3
"""llama.cpp's tokenizations of tests/fixtures/tokenizer/corpus.txt, for
tests/test_tokenizer.c.

Needs llama-cpp-python 0.3.36 (it builds llama.cpp from source) and, for the
DeepSeek prefix, the `gguf` package; the vocabularies come from
tests/fetch_vocab.sh and tests/fetch_model.sh. For each vocabulary NAME it
writes into tests/fixtures/tokenizer/:

  NAME.ids          llama.cpp's ids with parse_special off, one line per
                    corpus line (space-separated, add_special on: BOS where the
                    vocabulary adds it), then one line for the whole corpus as
                    a single text (the lines joined with their newlines)
  NAME.special.ids  the same with parse_special on
  NAME.detok        where llama.cpp's detokenization (of the ids without the
                    BOS it added; remove_special off, unparse_special as the
                    ids were made) is not the input text: "LINE MODE HEX" with
                    LINE the 0-based line (the corpus' line count for the whole
                    text), MODE 0 or 1 (parse_special) and HEX llama.cpp's text
  NAME.info         what llama.cpp says of the vocabulary: n_vocab, bos, eos,
                    eot, pad, add_bos, add_eos and the end-of-generation ids

Lines are split at b"\\n" only (U+2028 and a lone \\r stay inside a line).
llama.cpp refuses the DeepSeek file (a 95 MiB prefix of the model whose
tensor data is cut off) even with vocab_only, so the script writes a copy
with its metadata and no tensors (same keys, same order) and uses that.

    /tmp/venv-oracle/bin/python tests/oracle/make_tokenizer_fixture.py
"""
import argparse
import ctypes
import os
import sys
import tempfile

import llama_cpp

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "..", "fixtures", "tokenizer")
CACHE = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")

VOCABS = [
    ("llama-bpe", "vocab", "ggml-vocab-llama-bpe.gguf"),
    ("qwen2", "vocab", "ggml-vocab-qwen2.gguf"),
    ("llama-spm", "vocab", "ggml-vocab-llama-spm.gguf"),
    ("deepseek-r1-qwen", "vocab", "deepseek-r1-qwen.gguf"),
    ("smollm", "models", "SmolLM2-135M-Instruct.Q4_1.gguf"),
]


def metadata_copy(path, out):
    """A GGUF with path's metadata and no tensors."""
    import gguf

    class MetaReader(gguf.GGUFReader):
        def _build_tensors(self, start_offs, fields):
            self.tensors = []

    r = MetaReader(path)
    arch = r.fields["general.architecture"].contents()
    w = gguf.GGUFWriter(out, arch)
    for key, field in r.fields.items():
        if key.startswith("GGUF.") or key == "general.architecture":
            continue
        vtype = field.types[0]
        sub = field.types[-1] if vtype == gguf.GGUFValueType.ARRAY else None
        w.add_key_value(key, field.contents(), vtype, sub_type=sub)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def load(path, tmpdir):
    try:
        return llama_cpp.Llama(model_path=path, vocab_only=True, verbose=False)
    except ValueError:
        copy = os.path.join(tmpdir, os.path.basename(path) + ".meta.gguf")
        print(f"  llama.cpp refuses {path}: using a metadata-only copy", file=sys.stderr)
        metadata_copy(path, copy)
        return llama_cpp.Llama(model_path=copy, vocab_only=True, verbose=False)


def detokenize(vocab, ids, special):
    arr = (llama_cpp.llama_token * max(len(ids), 1))(*ids)
    cap = 64 + 8 * sum(1 for _ in ids) * 4
    while True:
        buf = ctypes.create_string_buffer(cap)
        n = llama_cpp.llama_detokenize(vocab, arr, len(ids), buf, cap, False, special)
        if n >= 0:
            return buf.raw[:n]
        cap = -n + 1


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--vocab-dir", default=os.path.join(CACHE, "pce", "vocab"))
    ap.add_argument("--model-dir", default=os.path.join(CACHE, "pce", "models"))
    ap.add_argument("--out", default=FIXTURES)
    ap.add_argument("--only", help="one vocabulary name")
    a = ap.parse_args()
    corpus = open(os.path.join(FIXTURES, "corpus.txt"), "rb").read()
    assert corpus.endswith(b"\n")
    lines = corpus[:-1].split(b"\n")
    texts = lines + [corpus]
    with tempfile.TemporaryDirectory() as tmpdir:
        for name, where, file in VOCABS:
            if a.only and name != a.only:
                continue
            path = os.path.join(a.vocab_dir if where == "vocab" else a.model_dir, file)
            if not os.path.exists(path):
                sys.exit(f"{path} missing: run tests/fetch_vocab.sh and tests/fetch_model.sh")
            print(f"{name}: {path}", file=sys.stderr)
            m = load(path, tmpdir)
            vocab = llama_cpp.llama_model_get_vocab(m.model)
            bos = llama_cpp.llama_vocab_bos(vocab)
            add_bos = bool(llama_cpp.llama_vocab_get_add_bos(vocab))
            detok = []
            for mode, suffix in ((0, ".ids"), (1, ".special.ids")):
                with open(os.path.join(a.out, name + suffix), "w") as f:
                    for i, text in enumerate(texts):
                        ids = m.tokenize(text, add_bos=True, special=bool(mode))
                        f.write(" ".join(map(str, ids)) + "\n")
                        body = ids[1:] if add_bos and ids and ids[0] == bos else ids
                        back = detokenize(vocab, body, bool(mode))
                        if back != text:
                            detok.append(f"{i} {mode} {back.hex()}\n")
            with open(os.path.join(a.out, name + ".detok"), "w") as f:
                f.writelines(detok)
            n = llama_cpp.llama_vocab_n_tokens(vocab)
            eog = [i for i in range(n) if llama_cpp.llama_vocab_is_eog(vocab, i)]
            with open(os.path.join(a.out, name + ".info"), "w") as f:
                f.write(f"n_vocab {n}\nbos {bos}\neos {llama_cpp.llama_vocab_eos(vocab)}\n")
                f.write(f"eot {llama_cpp.llama_vocab_eot(vocab)}\n")
                f.write(f"pad {llama_cpp.llama_vocab_pad(vocab)}\n")
                f.write(f"add_bos {int(add_bos)}\n")
                f.write(f"add_eos {int(bool(llama_cpp.llama_vocab_get_add_eos(vocab)))}\n")
                f.write("eog " + " ".join(map(str, eog)) + "\n")
            print(f"  {len(texts)} texts, {len(detok)} detokenized differently", file=sys.stderr)
            del m


if __name__ == "__main__":
    main()
