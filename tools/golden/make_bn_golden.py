#!/usr/bin/env python3
"""Golden BatchNorm data from PyTorch for tests/BatchNormLab.Tests/BatchNormGoldenTests.cs.

Run from the repository root:

    /usr/bin/python3 tools/golden/make_bn_golden.py

It deletes the *.json files in tests/BatchNormLab.Tests/Golden/ and writes one file per
case, named <case name>.json. The C# test enumerates the directory, so adding a case here
adds a test row there.

Each file holds one JSON object:

    {"name", "module": "BatchNorm1d"|"BatchNorm2d", "num_features", "eps",
     "momentum" (null = None, cumulative average), "affine", "track_running_stats",
     "dtype": "float64"|"float32", "weight" (list or null), "bias" (list or null),
     "torch_version", "seed",
     "steps": [{"mode": "train"|"eval",
                "input": {"shape": [...], "data": [flat row-major]},
                "grad_output": {shape, data} or null,
                "output": {shape, data},
                "grad_input": {shape, data} or null,
                "grad_weight": [...] or null, "grad_bias": [...] or null,
                "running_mean": [...] or null, "running_var": [...] or null,
                "num_batches_tracked": int or null}]}

Steps run in order on one module; running_* and num_batches_tracked are the values after
the step. weight/bias are set before the first step. Parameter gradients are reset to None
after every step (they would otherwise accumulate), so grad_weight/grad_bias are per step.
Eval steps also carry a gradient (PyTorch differentiates eval mode too: running statistics
are constants there).

Reference: every reference is computed by a torch.float64 module. For "float32" cases the
input, grad_output, weight and bias are drawn as float32 and widened to float64 (so they are
exact float32 values and the C# test can pass them as float[]); the expected values are still
the float64 results. The script cross-checks each case (a) against the explicit formulas of
the BatchNorm definition of Ioffe & Szegedy 2015 (as PyTorch implements it) in float64, and (b) for float32 cases, a torch.float32 module against
the float64 reference within the tolerances the C# test uses; it aborts if either fails.

All numbers are written with Python's repr (shortest string that round-trips a float64).
"""

import json
import math
import os
import sys

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT_DIR = os.path.join(ROOT, "tests", "BatchNormLab.Tests", "Golden")

# Tolerances the C# test applies: |a - b| <= tol * (1 + |b|). Keep in sync with
# BatchNormGoldenTests.Tolerance.
# Large-mean cases (names starting "large_mean") are ill-conditioned: |mean|/std ~ 1e6 in
# float64, so one rounding of the mean (an ulp of 1e4 is 1.8e-12) moves x_hat by ~1e-10 and
# dx by ~1e-8 (dx carries a factor 1/std = 100); they get 1e-7 (a one-pass E[x^2]-E[x]^2
# variance is off by ~1e-4 relative, so it still fails by far). In float32 (|mean|/std = 1e4)
# x_hat is only good to ~1e-3: output, grad_input and grad_weight get 1e-3.
TOL_F64 = 1e-10
TOL_F64_LARGE_MEAN = 1e-7
TOL_F32 = 1e-5
TOL_F32_LARGE_MEAN = 1e-3


def c_tolerance(case, quantity):
    large = case["name"].startswith("large_mean")
    if case["dtype"] == "float64":
        return TOL_F64_LARGE_MEAN if large else TOL_F64
    if large and quantity in ("output", "grad_input", "grad_weight"):
        return TOL_F32_LARGE_MEAN
    return TOL_F32


# ---------------------------------------------------------------------------------------
# Case definitions
# ---------------------------------------------------------------------------------------
# step: ("train"|"eval", shape, grad) ; data: "randn" (mean/std below) per case.

def case(name, module, c, steps, eps=1e-5, momentum=0.1, affine=True, track=True,
         dtype="float64", mean=0.0, std=1.0, seed=None, weight=None, bias=None):
    return dict(name=name, module=module, num_features=c, eps=eps, momentum=momentum,
                affine=affine, track=track, dtype=dtype, mean=mean, std=std,
                seed=seed, steps=steps, weight=weight, bias=bias)


T, E = "train", "eval"

CASES = [
    # BatchNorm1d on (N, C): three training batches, then eval.
    case("bn1d_nc", "BatchNorm1d", 4,
         [(T, (8, 4)), (T, (6, 4)), (T, (10, 4)), (E, (5, 4))]),
    # BatchNorm1d on (N, C, L): statistics over N*L, with varying N and L.
    case("bn1d_ncl", "BatchNorm1d", 3,
         [(T, (4, 3, 5)), (T, (3, 3, 4)), (T, (5, 3, 2)), (E, (2, 3, 5))], mean=0.5, std=2.0),
    # BatchNorm2d on (N, C, H, W): statistics over N*H*W.
    case("bn2d_nchw", "BatchNorm2d", 3,
         [(T, (2, 3, 4, 5)), (T, (3, 3, 3, 3)), (T, (2, 3, 5, 2)), (E, (2, 3, 4, 5))],
         mean=-1.0, std=3.0),
    # Channel count and H*W not multiples of any vector width (C = 7, H*W = 15; C = 19).
    case("bn2d_odd_sizes", "BatchNorm2d", 7,
         [(T, (3, 7, 3, 5)), (T, (2, 7, 5, 3)), (E, (3, 7, 3, 5))], mean=2.0, std=0.5),
    case("bn1d_nc_wide", "BatchNorm1d", 19,
         [(T, (13, 19)), (T, (9, 19)), (E, (4, 19))], mean=1.0, std=1.5),
    # momentum=None: cumulative average, f = 1/num_batches_tracked.
    case("bn2d_momentum_none", "BatchNorm2d", 3,
         [(T, (2, 3, 3, 4)), (T, (4, 3, 2, 2)), (T, (3, 3, 3, 3)), (T, (2, 3, 2, 5)),
          (E, (2, 3, 3, 4))], momentum=None, mean=1.0, std=2.0),
    case("bn1d_ncl_momentum_none", "BatchNorm1d", 4,
         [(T, (3, 4, 5)), (T, (5, 4, 3)), (T, (2, 4, 6)), (E, (3, 4, 5))],
         momentum=None, mean=-0.5, std=0.7),
    # momentum=1: running stats equal the last batch's (unbiased) statistics.
    case("bn2d_momentum_one", "BatchNorm2d", 3,
         [(T, (2, 3, 3, 3)), (T, (3, 3, 2, 2)), (E, (2, 3, 3, 3))], momentum=1.0, mean=3.0),
    # Non-default momentum.
    case("bn1d_momentum_0p3", "BatchNorm1d", 5,
         [(T, (7, 5)), (T, (4, 5)), (T, (9, 5)), (E, (3, 5))], momentum=0.3, std=4.0),
    # affine=False.
    case("bn2d_affine_false", "BatchNorm2d", 4,
         [(T, (2, 4, 3, 3)), (T, (3, 4, 2, 3)), (T, (2, 4, 2, 2)), (E, (2, 4, 3, 3))],
         affine=False, mean=0.3, std=1.7),
    # track_running_stats=False: no buffers; eval also uses batch statistics.
    case("bn2d_no_running_stats", "BatchNorm2d", 3,
         [(T, (2, 3, 3, 4)), (T, (3, 3, 2, 2)), (E, (2, 3, 3, 4)), (E, (4, 3, 1, 2))],
         track=False, mean=2.0, std=0.5),
    case("bn1d_no_running_stats_no_affine", "BatchNorm1d", 4,
         [(T, (6, 4)), (E, (5, 4)), (T, (3, 4, 3)), (E, (2, 4, 5))],
         affine=False, track=False, mean=-1.0, std=2.0),
    # Non-default eps, with a small variance so that eps matters (var ~ 2.5e-3, eps 1e-3).
    case("bn2d_eps_1e-3", "BatchNorm2d", 3,
         [(T, (2, 3, 3, 3)), (T, (3, 3, 2, 2)), (E, (2, 3, 3, 3))],
         eps=1e-3, mean=0.2, std=0.05),
    case("bn1d_eps_1e-1", "BatchNorm1d", 3,
         [(T, (5, 3)), (T, (4, 3)), (E, (3, 3))], eps=0.1, std=0.3),
    # Large mean, tiny spread: a one-pass E[x^2]-E[x]^2 variance fails here.
    # momentum=None so that the eval step's running statistics are also ~1e4 / ~1e-4.
    case("large_mean_bn2d", "BatchNorm2d", 3,
         [(T, (2, 3, 4, 4)), (T, (3, 3, 3, 3)), (E, (2, 3, 4, 4))],
         momentum=None, mean=1e4, std=1e-2),
    case("large_mean_bn1d", "BatchNorm1d", 4,
         [(T, (16, 4)), (T, (10, 4)), (E, (6, 4))], mean=-5e3, std=3e-3),
    # Few values per channel: the unbiased variance uses n = N*H*W (here n = 2 and 3).
    case("bn2d_small_nhw", "BatchNorm2d", 4,
         [(T, (2, 4, 1, 1)), (T, (3, 4, 1, 1)), (T, (2, 4, 1, 1)), (E, (2, 4, 1, 1))]),
    case("bn1d_n2", "BatchNorm1d", 5,
         [(T, (2, 5)), (T, (2, 5)), (E, (3, 5))], mean=1.0),
    # N = 1 is fine in training when L or H*W > 1 (n = L or H*W).
    case("bn1d_ncl_n1", "BatchNorm1d", 3,
         [(T, (1, 3, 4)), (T, (1, 3, 2)), (E, (1, 3, 4))], std=2.0),
    case("bn2d_n1", "BatchNorm2d", 3,
         [(T, (1, 3, 2, 3)), (T, (1, 3, 1, 2)), (E, (1, 3, 2, 3))], mean=-2.0),
    # Eval before any training (running stats 0 / 1), eval between training steps
    # (num_batches_tracked and buffers must not move), eval on a single sample.
    case("bn2d_eval_train_interleaved", "BatchNorm2d", 3,
         [(E, (2, 3, 2, 2)), (T, (2, 3, 3, 3)), (E, (2, 3, 2, 2)), (T, (3, 3, 2, 2)),
          (E, (1, 3, 1, 1))], mean=1.5, std=2.5),
    case("bn1d_eval_single_sample", "BatchNorm1d", 3,
         [(T, (8, 3)), (T, (5, 3)), (E, (1, 3)), (E, (1, 3, 1))], mean=-3.0, std=0.8),
    # float32 cases (inputs exactly representable; reference computed in float64).
    case("bn1d_nc_f32", "BatchNorm1d", 4,
         [(T, (8, 4)), (T, (6, 4)), (T, (10, 4)), (E, (5, 4))], dtype="float32"),
    case("bn2d_nchw_f32", "BatchNorm2d", 3,
         [(T, (2, 3, 4, 5)), (T, (3, 3, 3, 3)), (T, (2, 3, 5, 2)), (E, (2, 3, 4, 5))],
         dtype="float32", mean=-1.0, std=3.0),
    case("bn2d_momentum_none_f32", "BatchNorm2d", 3,
         [(T, (2, 3, 3, 4)), (T, (4, 3, 2, 2)), (T, (3, 3, 3, 3)), (E, (2, 3, 3, 4))],
         dtype="float32", momentum=None, mean=0.5),
    case("bn1d_ncl_no_affine_f32", "BatchNorm1d", 3,
         [(T, (4, 3, 5)), (T, (3, 3, 4)), (E, (2, 3, 5))], dtype="float32", affine=False,
         std=2.0),
    case("large_mean_bn2d_f32", "BatchNorm2d", 3,
         [(T, (2, 3, 4, 4)), (T, (3, 3, 3, 3)), (E, (2, 3, 4, 4))],
         dtype="float32", momentum=None, mean=1e3, std=1e-1),
]

# ---------------------------------------------------------------------------------------


def flat(t):
    return [float(v) for v in t.detach().reshape(-1).tolist()]


def tens(t):
    return {"shape": list(t.shape), "data": flat(t)}


def draw(gen, shape, dtype, mean=0.0, std=1.0):
    """randn in the case's dtype, widened to float64 (exact for float32)."""
    td = torch.float32 if dtype == "float32" else torch.float64
    x = torch.randn(shape, generator=gen, dtype=torch.float64) * std + mean
    return x.to(td).to(torch.float64)


def make_module(spec, torch_dtype):
    cls = getattr(torch.nn, spec["module"])
    m = cls(spec["num_features"], eps=spec["eps"], momentum=spec["momentum"],
            affine=spec["affine"], track_running_stats=spec["track"])
    return m.to(torch_dtype)


def run_case(spec, seed):
    gen = torch.Generator().manual_seed(seed)
    c = spec["num_features"]
    dt = spec["dtype"]
    weight = bias = None
    if spec["affine"]:
        # Non-trivial: weights away from 1 (some negative), biases away from 0.
        weight = draw(gen, (c,), dt, mean=1.0, std=0.8)
        bias = draw(gen, (c,), dt, mean=0.0, std=0.5)
    steps_in = []
    for mode, shape in spec["steps"]:
        x = draw(gen, shape, dt, spec["mean"], spec["std"])
        go = draw(gen, shape, dt)
        steps_in.append((mode, x, go))

    def replay(torch_dtype):
        m = make_module(spec, torch_dtype)
        if weight is not None:
            with torch.no_grad():
                m.weight.copy_(weight.to(torch_dtype))
                m.bias.copy_(bias.to(torch_dtype))
        out = []
        for mode, x, go in steps_in:
            m.train(mode == "train")
            xi = x.to(torch_dtype).clone().requires_grad_(True)
            y = m(xi)
            y.backward(go.to(torch_dtype))
            rec = {
                "mode": mode,
                "input": tens(x),
                "grad_output": tens(go),
                "output": tens(y.double()),
                "grad_input": tens(xi.grad.double()),
                "grad_weight": flat(m.weight.grad.double()) if spec["affine"] else None,
                "grad_bias": flat(m.bias.grad.double()) if spec["affine"] else None,
                "running_mean": flat(m.running_mean.double()) if spec["track"] else None,
                "running_var": flat(m.running_var.double()) if spec["track"] else None,
                "num_batches_tracked": int(m.num_batches_tracked) if spec["track"] else None,
            }
            if spec["affine"]:
                m.weight.grad = None
                m.bias.grad = None
            out.append(rec)
        return out

    steps = replay(torch.float64)
    result = {
        "name": spec["name"], "module": spec["module"], "num_features": c,
        "eps": spec["eps"], "momentum": spec["momentum"], "affine": spec["affine"],
        "track_running_stats": spec["track"], "dtype": dt,
        "weight": flat(weight) if weight is not None else None,
        "bias": flat(bias) if bias is not None else None,
        "torch_version": torch.__version__, "seed": seed,
        "steps": steps,
    }
    check_formulas(result, steps_in, weight, bias)
    if dt == "float32":
        check_close(result, replay(torch.float32), "torch.float32 module")
    return result


# ---------------------------------------------------------------------------------------
# Independent checks
# ---------------------------------------------------------------------------------------

def check_formulas(case_, steps_in, weight, bias):
    """Explicit formulas of Ioffe & Szegedy 2015 in float64, compared with torch's record."""
    c = case_["num_features"]
    eps, mom = case_["eps"], case_["momentum"]
    track = case_["track_running_stats"]
    rm = torch.zeros(c, dtype=torch.float64)
    rv = torch.ones(c, dtype=torch.float64)
    nbt = 0
    w = weight if weight is not None else torch.ones(c, dtype=torch.float64)
    b = bias if bias is not None else torch.zeros(c, dtype=torch.float64)
    expected = []
    for mode, x, dy in steps_in:
        dims = [0] + list(range(2, x.dim()))
        bshape = [1, c] + [1] * (x.dim() - 2)
        n = x.numel() // c
        use_batch = mode == "train" or not track
        if use_batch:
            mu = x.mean(dim=dims)
            var_b = ((x - mu.view(bshape)) ** 2).mean(dim=dims)
        else:
            mu, var_b = rm, rv
        invstd = 1.0 / torch.sqrt(var_b + eps)
        xhat = (x - mu.view(bshape)) * invstd.view(bshape)
        y = xhat * w.view(bshape) + b.view(bshape)
        dxhat = dy * w.view(bshape)
        if use_batch:
            s1 = dxhat.sum(dim=dims).view(bshape)
            s2 = (dxhat * xhat).sum(dim=dims).view(bshape)
            dx = invstd.view(bshape) / n * (n * dxhat - s1 - xhat * s2)
        else:
            dx = dxhat * invstd.view(bshape)
        dw = (dy * xhat).sum(dim=dims)
        db = dy.sum(dim=dims)
        if mode == "train" and track:
            nbt += 1
            f = (1.0 / nbt) if mom is None else mom
            rm = (1 - f) * rm + f * mu
            rv = (1 - f) * rv + f * var_b * n / (n - 1)
        expected.append({
            "output": tens(y), "grad_input": tens(dx),
            "grad_weight": flat(dw) if case_["affine"] else None,
            "grad_bias": flat(db) if case_["affine"] else None,
            "running_mean": flat(rm) if track else None,
            "running_var": flat(rv) if track else None,
            "num_batches_tracked": nbt if track else None,
        })
    check_close(case_, expected, "explicit formulas", scale=0.1)


QUANTITIES = ["output", "grad_input", "grad_weight", "grad_bias", "running_mean",
              "running_var"]


def check_close(case_, other_steps, label, scale=1.0):
    worst = 0.0
    for i, (ref, got) in enumerate(zip(case_["steps"], other_steps)):
        for q in QUANTITIES:
            a, b = got[q], ref[q]
            if b is None or a is None:
                if not (a is None and b is None):
                    sys.exit(f"{case_['name']} step {i} {q}: presence differs ({label})")
                continue
            if isinstance(b, dict):
                if a["shape"] != b["shape"]:
                    sys.exit(f"{case_['name']} step {i} {q}: shape differs ({label})")
                a, b = a["data"], b["data"]
            t = scale * c_tolerance(case_, q)
            for j, (va, vb) in enumerate(zip(a, b)):
                err = abs(va - vb) / (1 + abs(vb))
                worst = max(worst, err / t)
                if not err <= t:
                    sys.exit(f"{case_['name']} step {i} {q}[{j}]: {va!r} vs {vb!r} "
                             f"(scaled error {err:.3g} > {t:g}; {label})")
        if got["num_batches_tracked"] != ref["num_batches_tracked"]:
            sys.exit(f"{case_['name']} step {i} num_batches_tracked differs ({label})")
    print(f"  {case_['name']:<34} vs {label:<22} worst error/tolerance = {worst:.3g}")


def main():
    torch.use_deterministic_algorithms(True)
    os.makedirs(OUT_DIR, exist_ok=True)
    for f in os.listdir(OUT_DIR):
        if f.endswith(".json"):
            os.remove(os.path.join(OUT_DIR, f))
    names = set()
    total = 0
    print(f"torch {torch.__version__}")
    for k, spec in enumerate(CASES):
        assert spec["name"] not in names, spec["name"]
        names.add(spec["name"])
        seed = spec["seed"] if spec["seed"] is not None else 20240 + k
        result = run_case(spec, seed)
        text = json.dumps(result, separators=(",", ":"), allow_nan=False)
        path = os.path.join(OUT_DIR, spec["name"] + ".json")
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(text + "\n")
        total += len(text) + 1
    print(f"wrote {len(CASES)} files, {total} bytes, to {os.path.relpath(OUT_DIR, ROOT)}")
    if total > 1_000_000:
        sys.exit("golden data too large")


if __name__ == "__main__":
    main()
