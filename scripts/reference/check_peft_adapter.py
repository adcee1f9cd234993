#!/usr/bin/env python3
"""Checks that an adapter exported by collm (`Llm::save_peft_adapter`) means the same thing to
Python's peft: the Hugging Face model (transformers' GGUF loader, which undoes llama.cpp's q/k
permutation) with the adapter applied must give collm's logits.

Run once, by hand (needs torch, transformers, peft, gguf); never part of the build or tests:

    cargo run -p collm-llm --example export_peft_adapter -- MODEL.gguf /tmp/adapter
    /opt/refenv/bin/python scripts/reference/check_peft_adapter.py --gguf MODEL.gguf --adapter /tmp/adapter
"""

import argparse
import json
import os
import sys

import numpy as np
import torch
from peft import PeftModel
from transformers import AutoModelForCausalLM


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--gguf", required=True)
    ap.add_argument("--adapter", required=True)
    args = ap.parse_args()
    ours = json.load(open(os.path.join(args.adapter, "collm_logits.json")))
    base = AutoModelForCausalLM.from_pretrained(
        os.path.dirname(args.gguf), gguf_file=os.path.basename(args.gguf), dtype=torch.float32
    )
    ids = torch.tensor([ours["ids"]])
    with torch.no_grad():
        plain = base(ids).logits[0, -1].numpy()
    model = PeftModel.from_pretrained(base, args.adapter)
    model.eval()
    with torch.no_grad():
        adapted = model(ids).logits[0, -1].numpy()
    ours_adapted, ours_base = np.array(ours["logits"]), np.array(ours["base_logits"])
    effect = float(np.abs(ours_adapted - ours_base).max())
    d_base = float(np.abs(plain - ours_base).max())
    d_adapted = float(np.abs(adapted - ours_adapted).max())
    print(f"adapter's effect on the logits: {effect:.3e}")
    print(f"max |diff| without adapter: {d_base:.3e}; with adapter: {d_adapted:.3e}")
    ok = d_adapted < 1e-2 and d_adapted < effect / 10
    print("OK" if ok else "MISMATCH")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
