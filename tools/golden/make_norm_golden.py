#!/usr/bin/env python3
"""Golden LayerNorm, GroupNorm and InstanceNorm data from PyTorch for
tests/BatchNormLab.Tests/NormGoldenTests.cs.

Run from the repository root:

    /usr/bin/python3 tools/golden/make_norm_golden.py

It deletes the *.json files in tests/BatchNormLab.Tests/Golden/Norms/ and writes one file per case,
named <case name>.json; the C# test enumerates the directory. Each file holds one JSON object:

    {"name", "module": "LayerNorm"|"GroupNorm"|"InstanceNorm1d"|"InstanceNorm2d",
     "args": the module's constructor arguments (PyTorch names),
     "dtype": "float64"|"float32", "weight", "bias": {"shape", "data"} or null,
     "torch_version", "seed",
     "steps": [{"mode": "train"|"eval",
                "input", "grad_output", "output", "grad_input": {"shape": [...], "data": [flat row-major]},
                "grad_weight", "grad_bias": {"shape", "data"} or null,
                "running_mean", "running_var": [...] or null}]}

Steps run in order on one module; running_* are the values after the step (InstanceNorm with
track_running_stats only). weight/bias are set before the first step (random, so that γ ≠ 1, β ≠ 0
are exercised). Parameter gradients are reset after every step, so they are per step.

Every reference is computed by a torch.float64 module. For "float32" cases the input, grad_output,
weight and bias are drawn as float32 and widened to float64 (exact float32 values the C# test can pass
as float[]); the expected values are the float64 results, and the script checks that a torch.float32
module agrees with them within the tolerance the C# test allows for float32 (it stops otherwise).
Tolerances (C#: |actual − expected| ≤ tol·(1 + |expected|)): 1e-10 for float64, 1e-7 for the
float64 large-mean case (|mean|/std = 1e6: one rounding of the mean moves x̂ by ~1e-10), 1e-5 for float32.
"""

import json
import os
import sys

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT_DIR = os.path.join(ROOT, "tests", "BatchNormLab.Tests", "Golden", "Norms")
SEED = 6061
TOL_F32 = 1e-5


def case(name, module, args, steps, dtype="float64", mean=0.0, std=1.0):
    """steps: list of (mode, input shape)."""
    return dict(name=name, module=module, args=args, steps=steps, dtype=dtype, mean=mean, std=std)


CASES = [
    case("layer_norm_last_dim", "LayerNorm", {"normalized_shape": [6]}, [("train", [4, 6]), ("eval", [3, 6])]),
    case("layer_norm_two_dims", "LayerNorm", {"normalized_shape": [3, 4]}, [("train", [2, 5, 3, 4])]),
    case("layer_norm_no_affine", "LayerNorm", {"normalized_shape": [5], "elementwise_affine": False}, [("train", [3, 2, 5])]),
    case("layer_norm_eps_1e-2_f32", "LayerNorm", {"normalized_shape": [19], "eps": 1e-2}, [("train", [8, 19])], dtype="float32"),
    case("layer_norm_f32", "LayerNorm", {"normalized_shape": [37]}, [("train", [6, 37])], dtype="float32", mean=3.0, std=2.0),
    case("group_norm_nchw", "GroupNorm", {"num_groups": 3, "num_channels": 6}, [("train", [2, 6, 4, 5]), ("eval", [1, 6, 4, 5])]),
    case("group_norm_nchw_f32", "GroupNorm", {"num_groups": 2, "num_channels": 8}, [("train", [3, 8, 6, 6])], dtype="float32"),
    case("group_norm_one_group", "GroupNorm", {"num_groups": 1, "num_channels": 4}, [("train", [3, 4, 3, 3])]),
    case("group_norm_group_per_channel_ncl", "GroupNorm", {"num_groups": 4, "num_channels": 4}, [("train", [5, 4, 7])]),
    case("group_norm_nc_no_affine", "GroupNorm", {"num_groups": 2, "num_channels": 6, "affine": False}, [("train", [4, 6])]),
    case("group_norm_1x1_planes", "GroupNorm", {"num_groups": 4, "num_channels": 16}, [("train", [3, 16, 1, 1])]),
    case("group_norm_large_mean", "GroupNorm", {"num_groups": 2, "num_channels": 4}, [("train", [3, 4, 5, 5])], mean=1e4, std=1e-2),
    case("instance_norm2d_default", "InstanceNorm2d", {"num_features": 3}, [("train", [2, 3, 4, 4]), ("eval", [2, 3, 4, 4])]),
    case("instance_norm2d_affine_tracked", "InstanceNorm2d",
         {"num_features": 3, "affine": True, "track_running_stats": True, "momentum": 0.2},
         [("train", [2, 3, 4, 4]), ("train", [3, 3, 5, 2]), ("eval", [2, 3, 4, 4])], mean=1.5, std=2.0),
    case("instance_norm1d_affine_f32", "InstanceNorm1d", {"num_features": 4, "affine": True}, [("train", [3, 4, 10])], dtype="float32"),
    case("instance_norm1d_unbatched_tracked", "InstanceNorm1d", {"num_features": 2, "track_running_stats": True},
         [("train", [2, 9]), ("eval", [2, 9])], mean=-1.0),
]


def make_module(c, dtype):
    cls = getattr(torch.nn, c["module"])
    return cls(**c["args"]).to(dtype)


def flat(t):
    return {"shape": list(t.shape), "data": [float(v) for v in t.detach().reshape(-1).tolist()]}


def draw(gen, shape, c, mean=0.0, std=1.0):
    x = torch.randn(shape, generator=gen, dtype=torch.float64) * std + mean
    return x.float().double() if c["dtype"] == "float32" else x


def run(c, dtype, params, inputs):
    """Runs the steps on a fresh module of `dtype`; returns the per-step records."""
    m = make_module(c, dtype)
    if params is not None:
        with torch.no_grad():
            m.weight.copy_(params[0])
            m.bias.copy_(params[1])
    records = []
    for (mode, _), (x, g) in zip(c["steps"], inputs):
        m.train(mode == "train")
        x = x.to(dtype).detach().requires_grad_(True)
        y = m(x)
        y.backward(g.to(dtype))
        records.append({
            "mode": mode,
            "input": flat(x), "grad_output": flat(g), "output": flat(y), "grad_input": flat(x.grad),
            "grad_weight": flat(m.weight.grad) if params is not None else None,
            "grad_bias": flat(m.bias.grad) if params is not None else None,
            "running_mean": m.running_mean.tolist() if getattr(m, "running_mean", None) is not None else None,
            "running_var": m.running_var.tolist() if getattr(m, "running_var", None) is not None else None,
        })
        if params is not None:
            m.weight.grad = None
            m.bias.grad = None
    return records


def close(a, b, tol):
    return all(abs(x - y) <= tol * (1 + abs(y)) for x, y in zip(a, b))


def main():
    torch.manual_seed(SEED)
    os.makedirs(OUT_DIR, exist_ok=True)
    for f in os.listdir(OUT_DIR):
        if f.endswith(".json"):
            os.remove(os.path.join(OUT_DIR, f))
    for c in CASES:
        gen = torch.Generator().manual_seed(SEED + len(c["name"]) * 101 + sum(map(ord, c["name"])))
        probe = make_module(c, torch.float64)
        params = None
        if getattr(probe, "weight", None) is not None:
            params = (draw(gen, probe.weight.shape, c, 1.0, 0.5), draw(gen, probe.bias.shape, c, 0.0, 0.5))
        inputs = [(draw(gen, shape, c, c["mean"], c["std"]), draw(gen, shape, c)) for _, shape in c["steps"]]
        steps = run(c, torch.float64, params, inputs)
        if c["dtype"] == "float32":
            single = run(c, torch.float32, params, inputs)
            for s64, s32 in zip(steps, single):
                for q in ("output", "grad_input", "grad_weight", "grad_bias"):
                    if s64[q] is not None and not close(s32[q]["data"], s64[q]["data"], TOL_F32):
                        sys.exit(f"{c['name']}: torch float32 {q} is outside the float32 tolerance")
        out = {
            "name": c["name"], "module": c["module"], "args": c["args"], "dtype": c["dtype"],
            "weight": flat(params[0]) if params else None, "bias": flat(params[1]) if params else None,
            "torch_version": torch.__version__, "seed": SEED, "steps": steps,
        }
        with open(os.path.join(OUT_DIR, c["name"] + ".json"), "w") as f:
            json.dump(out, f, separators=(",", ":"))
    print(f"wrote {len(CASES)} cases to {OUT_DIR}")


if __name__ == "__main__":
    main()
