#!/usr/bin/env python3
"""Reference logits for collm-llm's numerics test, from an implementation independent of it.

Reads the SmolLM2-135M-Instruct GGUF with the `gguf` package (its own dequantiser), runs a plain
numpy float64 forward in llama.cpp's convention (q/k left in the GGUF row order, interleaved
RoPE), and tokenises with transformers' GGUF tokenizer conversion. Writes a small JSON fixture:
for a few prompts, the token ids, the last position's top-10 logits and the " Yes"/" No"/"Yes"
logits; and a greedy continuation of a chat-template prompt.

Run once, by hand; the Rust build and tests never run it:

    python3 -m venv /opt/refenv && /opt/refenv/bin/pip install numpy gguf transformers
    /opt/refenv/bin/python scripts/reference/make_logit_fixture.py \
        --gguf ~/.collm/models/smollm2-135m/SmolLM2-135M-Instruct.Q4_1.gguf \
        --out crates/collm-llm/tests/fixtures/smollm2_reference.json

`--cross-check` also runs transformers' PyTorch Llama over the same GGUF (needs torch) and
asserts that it agrees with the numpy forward.
"""

import argparse
import hashlib
import importlib.metadata
import json
import os
import sys

import gguf
import numpy as np

PROMPTS = [
    # The CoLLM stage-1 (TALLRec) prompt, BOS in front; "\\n" is a literal backslash-n as in the
    # reference templates.
    '<|im_start|>#Question: A user has given high ratings to the following movies: "Matrix, The (1999)", '
    '"Toy Story (1995)", "Fargo (1996)", "Heat (1995)". Leverage the information to predict whether the '
    'user would enjoy the movie titled "Big Daddy (1999)"? Answer with "Yes" or "No". \\n#Answer:',
    "The capital of France is",
    'In 2001, 12345 people watched 3 movies: "Se7en (1995)" & "2001: A Space Odyssey (1968)"!',
    "Caf\u00e9 na\u00efve \u2013 d\u00e9j\u00e0 vu.\n\tTabs,  two spaces   and\nnew lines.",
]
CHAT_PROMPT = (
    "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
    "<|im_start|>user\nWhat is the movie The Matrix about?<|im_end|>\n<|im_start|>assistant\n"
)
ROWS = {" Yes": 9230, " No": 2838, "Yes": 10539}
TOP_K = 10
GREEDY_TOKENS = 16


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class NumpyLlama:
    """A float64 Llama forward over GGUF tensors, in llama.cpp's layout."""

    def __init__(self, path):
        reader = gguf.GGUFReader(path)
        field = lambda key: reader.fields[key].contents()
        arch = field("general.architecture")
        assert arch == "llama", arch
        self.n_layer = field("llama.block_count")
        self.n_head = field("llama.attention.head_count")
        self.n_kv = field("llama.attention.head_count_kv")
        self.hidden = field("llama.embedding_length")
        self.eps = field("llama.attention.layer_norm_rms_epsilon")
        self.theta = field("llama.rope.freq_base")
        self.head_dim = self.hidden // self.n_head
        self.w = {}
        for t in reader.tensors:
            data = gguf.quants.dequantize(t.data, t.tensor_type)
            # numpy order is GGUF's ne reversed: [out, in] for matrices.
            self.w[t.name] = np.asarray(data, dtype=np.float64).reshape([int(d) for d in reversed(t.shape)])
        self.head = self.w.get("output.weight", self.w["token_embd.weight"])

    def rms(self, x, g):
        return x / np.sqrt((x * x).mean(-1, keepdims=True) + self.eps) * g

    def rope_interleaved(self, x, pos):
        # x: [T, heads, d]; pairs (2i, 2i+1) rotate by pos * theta^(-2i/d) (llama.cpp NORM mode).
        d = x.shape[-1]
        inv = self.theta ** (-np.arange(0, d, 2, dtype=np.float64) / d)
        ang = pos[:, None] * inv[None, :]
        cos, sin = np.cos(ang)[:, None, :], np.sin(ang)[:, None, :]
        a, b = x[..., 0::2], x[..., 1::2]
        out = np.empty_like(x)
        out[..., 0::2] = a * cos - b * sin
        out[..., 1::2] = a * sin + b * cos
        return out

    def last_logits(self, ids):
        T, hd = len(ids), self.head_dim
        x = self.w["token_embd.weight"][ids]
        pos = np.arange(T, dtype=np.float64)
        causal = np.triu(np.full((T, T), -np.inf), 1)
        group = self.n_head // self.n_kv
        for i in range(self.n_layer):
            p = lambda n: self.w[f"blk.{i}.{n}.weight"]
            h = self.rms(x, p("attn_norm"))
            q = (h @ p("attn_q").T).reshape(T, self.n_head, hd)
            k = (h @ p("attn_k").T).reshape(T, self.n_kv, hd)
            v = (h @ p("attn_v").T).reshape(T, self.n_kv, hd)
            q, k = self.rope_interleaved(q, pos), self.rope_interleaved(k, pos)
            out = np.empty((T, self.n_head, hd))
            for head in range(self.n_head):
                kv = head // group
                s = q[:, head] @ k[:, kv].T / np.sqrt(hd) + causal
                s = np.exp(s - s.max(-1, keepdims=True))
                s /= s.sum(-1, keepdims=True)
                out[:, head] = s @ v[:, kv]
            x = x + out.reshape(T, -1) @ p("attn_output").T
            h = self.rms(x, p("ffn_norm"))
            g = h @ p("ffn_gate").T
            x = x + ((g / (1 + np.exp(-g))) * (h @ p("ffn_up").T)) @ p("ffn_down").T
        last = self.rms(x[-1], self.w["output_norm.weight"])
        return self.head @ last

    def greedy(self, ids, n, eos):
        ids, out = list(ids), []
        for _ in range(n):
            nxt = int(np.argmax(self.last_logits(np.array(ids))))
            out.append(nxt)
            ids.append(nxt)
            if nxt == eos:
                break
        return out


def load_tokenizer(path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(os.path.dirname(path), gguf_file=os.path.basename(path))


def cross_check(path, model, cases):
    import torch
    from transformers import AutoModelForCausalLM

    hf = AutoModelForCausalLM.from_pretrained(
        os.path.dirname(path), gguf_file=os.path.basename(path), torch_dtype=torch.float64
    )
    hf.eval()
    for ids, logits in cases:
        with torch.no_grad():
            ref = hf(torch.tensor([ids])).logits[0, -1].numpy()
        diff = float(np.abs(ref - logits).max())
        print(f"transformers vs numpy: max |diff| {diff:.2e} over {len(ids)} tokens", file=sys.stderr)
        assert diff < 1e-3, diff


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--gguf", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--cross-check", action="store_true")
    args = ap.parse_args()

    tok = load_tokenizer(args.gguf)
    model = NumpyLlama(args.gguf)
    eos = int(tok.convert_tokens_to_ids("<|im_end|>"))
    for text, row in ROWS.items():
        got = tok.encode(text, add_special_tokens=False)
        assert got == [row], (text, got)

    prompts, cases = [], []
    for text in PROMPTS:
        ids = tok.encode(text, add_special_tokens=False)
        logits = model.last_logits(np.array(ids))
        cases.append((ids, logits))
        top = np.argsort(-logits, kind="stable")[:TOP_K]
        prompts.append(
            {
                "text": text,
                "ids": ids,
                "top_ids": [int(i) for i in top],
                "top_logits": [float(logits[i]) for i in top],
                "rows": {name: float(logits[row]) for name, row in ROWS.items()},
            }
        )
        print(f"{len(ids):3d} tokens, top {top[:3].tolist()}", file=sys.stderr)

    chat_ids = tok.encode(CHAT_PROMPT, add_special_tokens=False)
    generated = model.greedy(chat_ids, GREEDY_TOKENS, eos)
    print("greedy:", repr(tok.decode(generated)), file=sys.stderr)
    if args.cross_check:
        cross_check(args.gguf, model, cases)

    fixture = {
        "about": "Reference logits of SmolLM2-135M-Instruct (GGUF Q4_1, dequantised), numpy float64 forward "
        "with interleaved RoPE on the GGUF layout; token ids from transformers' GGUF tokenizer. "
        "Made by scripts/reference/make_logit_fixture.py.",
        "gguf_sha256": sha256(args.gguf),
        "versions": {name: importlib.metadata.version(name) for name in ("gguf", "numpy", "transformers")},
        "rows": ROWS,
        "prompts": prompts,
        "greedy": {"text": CHAT_PROMPT, "ids": chat_ids, "eos": eos, "max_new": GREEDY_TOKENS,
                   "generated": generated, "generated_text": tok.decode(generated)},
    }
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(fixture, f, indent=1, ensure_ascii=False)
        f.write("\n")
    print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
