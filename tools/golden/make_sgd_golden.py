#!/usr/bin/env python3
"""Golden numbers for tests/BatchNormLab.Tests/Training/SgdTests.cs: torch.optim.SGD on a fixed
parameter and three fixed gradients, per configuration. Prints a C# array initialiser per case.

    /usr/bin/python3 tools/golden/make_sgd_golden.py
"""
import torch

torch.set_default_dtype(torch.float64)
start = [1.0, -2.0, 3.0, 0.5]
grads = [[0.1, -0.2, 0.3, -0.4], [0.5, 0.25, -0.125, 1.0], [-1.0, 0.75, 0.2, -0.3]]
cases = {
    "plain": dict(lr=0.1),
    "momentum_decay": dict(lr=0.1, momentum=0.9, weight_decay=1e-2),
    "nesterov": dict(lr=0.05, momentum=0.9, weight_decay=5e-4, nesterov=True),
    "dampening": dict(lr=0.2, momentum=0.5, dampening=0.1),
}
for name, kw in cases.items():
    w = torch.tensor(start, requires_grad=True)
    opt = torch.optim.SGD([w], **kw)
    steps = []
    for g in grads:
        w.grad = torch.tensor(g)
        opt.step()
        steps.append(w.detach().tolist())
    print(f'["{name}"] = [' + ", ".join("[" + ", ".join(repr(v) for v in s) + "]" for s in steps) + "],")
