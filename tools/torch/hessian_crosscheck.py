#!/usr/bin/env python3
"""PyTorch reference for bnlab's Hessian analyses (src/BatchNormLab/Analysis): a float64 MLP
5 -> 6 -> 5 -> 3 with BatchNorm and tanh (bnlab_models' twin of `mlp`), made from a seed, and a
fixed batch of 16. For BatchNorm in training mode (batch statistics) and in eval mode (running
statistics, set to random values here), it computes with torch.autograd double backward the top
eigenvalue (largest magnitude) by power iteration, the same from the dense Hessian, and the exact
trace, and writes
    OUT/mlp_bn_f64.safetensors   the state dict under PyTorch's key names (bnlab loads it as is)
    OUT/mlp_bn_f64.json          the batch and the results
which tests/BatchNormLab.Tests/Analysis/TorchCrossCheckTests.cs compares with bnlab's own (1e-4 relative).

    /usr/bin/python3 tools/torch/hessian_crosscheck.py [--out tests/BatchNormLab.Tests/Golden/Hessian] [--seed 0]

Needs only python3-torch; the safetensors file is written here (8-byte header length, JSON header,
raw little-endian data).
"""
import argparse
import copy
import json
import os
import struct
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bnlab_models  # noqa: E402

CONFIG = {"model": {"name": "mlp", "hidden": [6, 5],
                    "options": {"norm": "batch-norm", "placement": "before-activation", "activation": "tanh"}}}
SAMPLES, FEATURES, CLASSES = 16, 5, 3


def write_safetensors(path, tensors):
    header, blobs, offset = {}, [], 0
    for name, t in tensors.items():
        data = t.detach().contiguous().cpu().numpy().tobytes()
        dtype = {torch.float64: "F64", torch.float32: "F32", torch.int64: "I64"}[t.dtype]
        header[name] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(raw)) + raw + b"".join(blobs))


def hvp(model, x, y, params, v):
    """H v by double backward; the model's buffers are put back, as bnlab's operator does."""
    saved = copy.deepcopy(model.state_dict())
    loss = F.cross_entropy(model(x), y)
    grads = torch.autograd.grad(loss, params, create_graph=True)
    dot = sum((g * u).sum() for g, u in zip(grads, v))
    out = torch.autograd.grad(dot, params)
    model.load_state_dict(saved)
    return torch.cat([o.reshape(-1) for o in out])


def split(flat, params):
    parts, i = [], 0
    for p in params:
        parts.append(flat[i:i + p.numel()].view_as(p))
        i += p.numel()
    return parts


def analyse(model, x, y, generator):
    params = list(model.parameters())
    n = sum(p.numel() for p in params)
    dense = torch.stack([hvp(model, x, y, params, split(torch.eye(n, dtype=torch.float64)[i], params)) for i in range(n)], dim=1)
    dense = (dense + dense.T) / 2
    exact = torch.linalg.eigvalsh(dense)
    v = torch.randn(n, dtype=torch.float64, generator=generator)
    value, iterations = float("nan"), 0
    for iterations in range(1, 20001):
        v = v / v.norm()
        hv = hvp(model, x, y, params, split(v, params))
        previous, value = value, float(hv @ v)
        v = hv
        if abs(value - previous) < 1e-14 * abs(value):
            break
    return {
        "top_eigenvalue_power": value,
        "power_iterations": iterations,
        "top_eigenvalue_dense": float(exact[exact.abs().argmax()]),
        "smallest_eigenvalue_dense": float(exact.min()),
        "largest_eigenvalue_dense": float(exact.max()),
        "trace": float(dense.trace()),
        "dimension": n,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="tests/BatchNormLab.Tests/Golden/Hessian")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    generator = torch.Generator().manual_seed(args.seed + 1)
    model = bnlab_models.build(CONFIG, [FEATURES], CLASSES).double()
    with torch.no_grad():
        for name, b in model.named_buffers():
            if name.endswith("running_mean"):
                b.copy_(0.3 * torch.randn(b.shape, dtype=torch.float64))
            elif name.endswith("running_var"):
                b.copy_(torch.rand(b.shape, dtype=torch.float64) + 0.5)
            elif name.endswith("num_batches_tracked"):
                b.fill_(7)
        for p in model.parameters():  # γ, β away from 1, 0 so every parameter matters
            if p.dim() == 1:
                p.add_(0.2 * torch.randn(p.shape, dtype=torch.float64))
    x = torch.randn(SAMPLES, FEATURES, dtype=torch.float64)
    y = torch.randint(0, CLASSES, (SAMPLES,))
    state = model.state_dict()
    results = {}
    for mode in ("training", "eval"):
        model.train(mode == "training")
        results[mode] = analyse(model, x, y, generator)
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items()), "the analyses changed the model"
    os.makedirs(args.out, exist_ok=True)
    write_safetensors(os.path.join(args.out, "mlp_bn_f64.safetensors"), dict(state))
    golden = {"config": CONFIG, "seed": args.seed, "torch": torch.__version__,
              "inputs": x.tolist(), "labels": y.tolist(), "results": results}
    with open(os.path.join(args.out, "mlp_bn_f64.json"), "w") as f:
        json.dump(golden, f, indent=1)
        f.write("\n")
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
