#!/usr/bin/python3
"""How close any bf16 engine can come to fp32 on a ModernBERT checkpoint: the floor that
storing the weights in bf16 alone sets, beside PyTorch's bf16 autocast.

Runs the golden document cases (golden.json of ../shared/golden/<model>) through
peers_torch.ModernBert and the Dense head three ways: fp32; fp32 math on weights rounded to
bf16 (what every bf16 engine multiplies by, with nothing else lost); and
torch.autocast(bfloat16). Prints the worst and the median per-case worst per-token cosine
against fp32 of the ColBERT vectors at the kept positions (what golden_encoder_test's bf16
check measures against PyLate), and of the last hidden state.
Documents only: peers_torch.ModernBert has no padding mask, which the golden queries' [MASK]
expansion needs; on documents it matches the golden hidden states (the max |diff| is printed).

  bench/encoder/bf16_floor.py ../shared/golden/models/modernbert-colbert-tiny \
      ../shared/golden/modernbert-colbert-tiny
"""
import argparse
import copy
import json
import os

import numpy as np
import torch

import peers_torch


def load_dense(model_dir):
    """The 1_Dense projection's weight [out, in] (bias-free, identity activation)."""
    return peers_torch.load_safetensors(os.path.join(model_dir, "1_Dense", "model.safetensors"))["linear.weight"]


def colbert_vectors(hidden, dense, kept):
    v = torch.nn.functional.linear(hidden, dense)[kept]
    return torch.nn.functional.normalize(v.float(), dim=-1).numpy()


def worst_cosine(a, b):
    return float(((a * b).sum(-1) / np.linalg.norm(a, axis=-1) / np.linalg.norm(b, axis=-1)).min())


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model_dir", help="ModernBERT backbone folder (config.json, model.safetensors)")
    p.add_argument("golden_dir", help="golden folder with cases.jsonl and <case>.hidden.npy")
    args = p.parse_args()
    fp32 = peers_torch.ModernBert(args.model_dir)
    dense = load_dense(args.model_dir)
    rounded = copy.deepcopy(fp32)
    with torch.no_grad():
        for w in rounded.parameters():
            w.copy_(w.to(torch.bfloat16).float())
    dense_rounded = dense.to(torch.bfloat16).float()
    worst = {}  # (way, output) -> per-case worst cosine
    golden_diff = 0.0
    with open(os.path.join(args.golden_dir, "golden.json")) as f:
        cases = json.load(f)["cases"]
    for c in cases:
        if c["is_query"] or c["pool_factor"] != 1 or c["prompt_name"] is not None:
            continue
        ids, kept = torch.tensor([c["ids"]]), c["kept_positions"]
        with torch.no_grad():
            ref = fp32(ids)[0]
            golden = np.load(os.path.join(args.golden_dir, c["id"] + ".hidden.npy"))
            golden_diff = max(golden_diff, float(np.abs(ref.numpy() - golden).max()))
            with torch.autocast("cpu", dtype=torch.bfloat16):
                autocast = fp32(ids)[0]
                autocast_vectors = colbert_vectors(autocast, dense, kept)
            ways = {"weights rounded to bf16, fp32 math": (rounded(ids)[0], dense_rounded, None),
                    "torch bf16 autocast": (autocast.float(), None, autocast_vectors)}
            for way, (hidden, head, vectors) in ways.items():
                if vectors is None:
                    vectors = colbert_vectors(hidden, head, kept)
                worst.setdefault((way, "ColBERT vectors"), []).append(
                    worst_cosine(colbert_vectors(ref, dense, kept), vectors))
                worst.setdefault((way, "last hidden state"), []).append(
                    worst_cosine(ref.numpy(), hidden.numpy()))
    n = len(next(iter(worst.values())))
    print("%d document cases; fp32 vs golden hidden states: max |diff| %.2g" % (n, golden_diff))
    for (way, output), values in worst.items():
        print("%-36s %-17s worst per-token cosine vs fp32 %.5f (median of the per-case worst %.5f)"
              % (way, output, min(values), float(np.median(values))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
