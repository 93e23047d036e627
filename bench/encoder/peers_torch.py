#!/usr/bin/python3
"""PyTorch peers for encoder_bench: a plain eager re-implementation of ModernBERT (the
transformers modeling_modernbert.py eager path: full attention with a sliding-window mask on
local layers) loading the random checkpoints encoder_bench --keep_models wrote, checked against
Tartan's float32 output, timed in fp32 eager and bf16 autocast, and exported to ONNX for the
ONNX Runtime peer (peers_ort.js).

  peers_torch.py MODELS_DIR --models=base,ettin32m --threads=1,2 --min_seconds=1.5

Prints one markdown row per configuration; tokens/s from wall time and from process CPU time
(the machine is shared: CPU time is what the cores gave us).
"""
import argparse
import json
import math
import os
import struct
import time

import torch
import torch.nn.functional as F


def load_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    tensors = {}
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        assert meta["dtype"] == "F32", meta["dtype"]
        b, e = meta["data_offsets"]
        tensors[name] = torch.frombuffer(bytearray(data[b:e]), dtype=torch.float32).reshape(
            meta["shape"])
    return tensors


class ModernBert(torch.nn.Module):
    def __init__(self, model_dir):
        super().__init__()
        cfg = json.load(open(os.path.join(model_dir, "config.json")))
        w = load_safetensors(os.path.join(model_dir, "model.safetensors"))
        self.h = cfg["hidden_size"]
        self.heads = cfg["num_attention_heads"]
        self.hd = self.h // self.heads
        self.inter = cfg["intermediate_size"]
        self.eps = cfg["norm_eps"]
        self.half_window = cfg["local_attention"] // 2
        self.n_layers = cfg["num_hidden_layers"]
        every = cfg["global_attn_every_n_layers"]
        self.is_global = [i % every == 0 for i in range(self.n_layers)]
        p = lambda t: torch.nn.Parameter(t, requires_grad=False)
        self.emb = p(w["embeddings.tok_embeddings.weight"])
        self.emb_norm = p(w["embeddings.norm.weight"])
        self.attn_norm = torch.nn.ParameterList(
            [p(w[f"layers.{i}.attn_norm.weight"]) if i else p(torch.ones(self.h))
             for i in range(self.n_layers)])
        self.wqkv = torch.nn.ParameterList([p(w[f"layers.{i}.attn.Wqkv.weight"])
                                            for i in range(self.n_layers)])
        self.wo = torch.nn.ParameterList([p(w[f"layers.{i}.attn.Wo.weight"])
                                          for i in range(self.n_layers)])
        self.mlp_norm = torch.nn.ParameterList([p(w[f"layers.{i}.mlp_norm.weight"])
                                                for i in range(self.n_layers)])
        self.wi = torch.nn.ParameterList([p(w[f"layers.{i}.mlp.Wi.weight"])
                                          for i in range(self.n_layers)])
        self.mlp_wo = torch.nn.ParameterList([p(w[f"layers.{i}.mlp.Wo.weight"])
                                              for i in range(self.n_layers)])
        self.final_norm = p(w["final_norm.weight"])
        self.theta = {True: cfg["global_rope_theta"], False: cfg["local_rope_theta"]}

    def rope(self, seq, theta):
        inv = 1.0 / (theta ** (torch.arange(0, self.hd, 2, dtype=torch.float32) / self.hd))
        f = torch.outer(torch.arange(seq, dtype=torch.float32), inv)
        e = torch.cat([f, f], dim=-1)
        return e.cos(), e.sin()

    @staticmethod
    def rotate_half(x):
        x1, x2 = x.chunk(2, dim=-1)
        return torch.cat([-x2, x1], dim=-1)

    def forward(self, ids):
        b, s = ids.shape
        x = F.layer_norm(self.emb[ids], (self.h,), self.emb_norm, None, self.eps)
        pos = torch.arange(s)
        local = ((pos[None, :] - pos[:, None]).abs() > self.half_window)
        local_mask = torch.zeros(s, s).masked_fill(local, torch.finfo(torch.float32).min)
        ropes = {g: self.rope(s, self.theta[g]) for g in (True, False)}
        for i in range(self.n_layers):
            a = x if i == 0 else F.layer_norm(x, (self.h,), self.attn_norm[i], None, self.eps)
            qkv = F.linear(a, self.wqkv[i]).view(b, s, 3, self.heads, self.hd)
            q, k, v = qkv.permute(2, 0, 3, 1, 4)  # [b, heads, s, hd] each
            cos, sin = ropes[self.is_global[i]]
            q = q * cos + self.rotate_half(q) * sin
            k = k * cos + self.rotate_half(k) * sin
            scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.hd)
            if not self.is_global[i]:
                scores = scores + local_mask.to(scores.dtype)
            ctx = torch.matmul(scores.softmax(-1).to(v.dtype), v)
            x = x + F.linear(ctx.transpose(1, 2).reshape(b, s, self.h), self.wo[i])
            m = F.layer_norm(x, (self.h,), self.mlp_norm[i], None, self.eps)
            inp, gate = F.linear(m, self.wi[i]).chunk(2, dim=-1)
            x = x + F.linear(F.gelu(inp) * gate, self.mlp_wo[i])
        return F.layer_norm(x, (self.h,), self.final_norm, None, self.eps)


def timed(fn, min_seconds, max_reps):
    fn()  # warm-up
    walls, cpu0, total = [], time.process_time(), 0.0
    while len(walls) < max_reps and (not walls or total < min_seconds):
        t0 = time.perf_counter()
        fn()
        walls.append(time.perf_counter() - t0)
        total += walls[-1]
    cpu = time.process_time() - cpu0
    walls.sort()
    return walls[len(walls) // 2], cpu / len(walls)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("models_dir")
    ap.add_argument("--models", default="base,ettin32m")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--min_seconds", type=float, default=1.5)
    ap.add_argument("--max_reps", type=int, default=3)
    ap.add_argument("--skip_timing", action="store_true", help="check and export only")
    args = ap.parse_args()
    print(f"torch {torch.__version__}, oneDNN (mkldnn) {torch.backends.mkldnn.is_available()}, "
          f"ATen CPU capability {os.environ.get('ATEN_CPU_CAPABILITY', 'default (best)')}")
    for name in args.models.split(","):
        d = os.path.join(args.models_dir, name)
        model = ModernBert(d).eval()
        ids = torch.frombuffer(bytearray(open(os.path.join(d, "check_ids.i32"), "rb").read()),
                               dtype=torch.int32).long()[None, :]
        want = torch.frombuffer(bytearray(open(os.path.join(d, "check_hidden.f32"), "rb").read()),
                                dtype=torch.float32).reshape(ids.shape[1], -1)
        with torch.inference_mode():
            got = model(ids)[0]
        diff = (got - want).abs().max().item()
        print(f"{name}: PyTorch re-implementation vs Tartan fp32 on one 32-token query: "
              f"max abs diff {diff:.2e}")
        if diff > 1e-3:
            raise SystemExit(f"{name}: the PyTorch re-implementation disagrees with Tartan")
        onnx_path = os.path.join(d, "model.onnx")
        if not os.path.exists(onnx_path):
            torch.onnx.export(model, (ids,), onnx_path, input_names=["input_ids"],
                              output_names=["last_hidden_state"],
                              dynamic_axes={"input_ids": {0: "batch", 1: "seq"},
                                            "last_hidden_state": {0: "batch", 1: "seq"}},
                              opset_version=14)
        if args.skip_timing:
            continue
        gen = torch.Generator().manual_seed(42)
        vocab = model.emb.shape[0]
        workloads = [("query", 1, 32), ("doc", 8, 180)]
        for threads in map(int, args.threads.split(",")):
            torch.set_num_threads(threads)
            for wname, batch, length in workloads:
                x = torch.randint(0, vocab, (batch, length), generator=gen)
                for prec in ("fp32", "bf16 autocast"):
                    def run():
                        with torch.inference_mode(), torch.autocast(
                                "cpu", dtype=torch.bfloat16, enabled=prec != "fp32"):
                            model(x)
                    wall, cpu = timed(run, args.min_seconds, args.max_reps)
                    tokens = batch * length
                    print(f"| PyTorch eager {prec} | {name} | {wname} {batch}x{length} | "
                          f"{threads} | {wall * 1e3:.1f} | {tokens / wall:.0f} | "
                          f"{tokens / (cpu / threads):.0f} |", flush=True)


if __name__ == "__main__":
    main()
