#!/usr/bin/env python3
"""Golden state-dict keys and shapes of the PyTorch twins of BatchNormLab's models
(tools/torch/bnlab_models.py), for tests/BatchNormLab.Tests/Models/ModelKeyTests.cs.

    /usr/bin/python3 tools/golden/make_model_keys_golden.py > tests/BatchNormLab.Tests/Golden/Models/model_keys.json
"""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "torch"))
import bnlab_models  # noqa: E402
import torch  # noqa: E402


def options(norm, placement="before-activation", **extra):
    return {"norm": norm, "placement": placement, "activation": "relu", "init": "pytorch", **extra}


CASES = [
    ("mlp_bn", {"name": "mlp", "options": options("batch-norm"), "hidden": [32, 16], "width": 1, "depth": 25}, [1, 28, 28], 10),
    ("mlp_bn_after", {"name": "mlp", "options": options("batch-norm", "after-activation"), "hidden": [8], "width": 1, "depth": 25}, [4], 3),
    ("dln_bn", {"name": "dln", "options": options("batch-norm"), "hidden": None, "width": 10, "depth": 5}, [10], 10),
    ("vgg11_bn_quarter_28", {"name": "vgg11", "options": options("batch-norm"), "hidden": None, "width": 0.25, "depth": 25}, [1, 28, 28], 10),
    ("vgg16_none_32", {"name": "vgg16", "options": options("none"), "hidden": None, "width": 0.125, "depth": 25}, [3, 32, 32], 10),
    ("resnet20_bn", {"name": "resnet20", "options": options("batch-norm"), "hidden": None, "width": 1, "depth": 25}, [3, 32, 32], 10),
    ("resnet8_none", {"name": "resnet8", "options": options("none"), "hidden": None, "width": 1, "depth": 25}, [1, 28, 28], 10),
    ("vgg11_noisy_bn_eighth_28", {"name": "vgg11", "options": options("noisy-batch-norm"), "hidden": None, "width": 0.125, "depth": 25}, [1, 28, 28], 10),
    ("mlp_noise_after", {"name": "mlp", "options": options("noise", "after-activation"), "hidden": [8, 8], "width": 1, "depth": 25}, [4], 3),
    ("mlp_l1", {"name": "mlp", "options": options("l1"), "hidden": [8], "width": 1, "depth": 25}, [4], 3),
    ("vgg11_l2_eighth_28", {"name": "vgg11", "options": options("l2"), "hidden": None, "width": 0.125, "depth": 25}, [1, 28, 28], 10),
    ("resnet8_linf", {"name": "resnet8", "options": options("linf"), "hidden": None, "width": 1, "depth": 25}, [1, 28, 28], 10),
    ("mlp_gn", {"name": "mlp", "options": options("group-norm"), "hidden": [16, 8], "width": 1, "depth": 25}, [4], 3),
    ("vgg11_gn4_eighth_28", {"name": "vgg11", "options": options("group-norm", groups=4), "hidden": None, "width": 0.125, "depth": 25}, [1, 28, 28], 10),
    ("resnet8_gn", {"name": "resnet8", "options": options("group-norm"), "hidden": None, "width": 1, "depth": 25}, [1, 28, 28], 10),
    ("mlp_ln_after", {"name": "mlp", "options": options("layer-norm", "after-activation"), "hidden": [8], "width": 1, "depth": 25}, [4], 3),
    ("vgg11_ln_eighth_28", {"name": "vgg11", "options": options("layer-norm"), "hidden": None, "width": 0.125, "depth": 25}, [1, 28, 28], 10),
    ("vgg11_in_eighth_32", {"name": "vgg11", "options": options("instance-norm"), "hidden": None, "width": 0.125, "depth": 25}, [3, 32, 32], 10),
    ("resnet8_in", {"name": "resnet8", "options": options("instance-norm"), "hidden": None, "width": 1, "depth": 25}, [1, 28, 28], 10),
    ("mlp_brn", {"name": "mlp", "options": options("batch-renorm"), "hidden": [8], "width": 1, "depth": 25}, [4], 3),
    ("vgg11_brn_eighth_28", {"name": "vgg11", "options": options("batch-renorm", renorm={"r_max": 2.0, "d_max": 1.0, "fixed_steps": 10, "r_max_steps": 100, "d_max_steps": 50}), "hidden": None, "width": 0.125, "depth": 25}, [1, 28, 28], 10),
    ("dln_ghost_bn", {"name": "dln", "options": options("ghost-batch-norm", ghost_batch_size=16), "hidden": None, "width": 10, "depth": 4}, [10], 10),
    ("resnet8_ghost_bn", {"name": "resnet8", "options": options("ghost-batch-norm"), "hidden": None, "width": 1, "depth": 25}, [1, 28, 28], 10),
]

golden = {}
for name, spec, sample, outputs in CASES:
    model = bnlab_models.build({"model": spec}, sample, outputs)
    golden[name] = {
        "model": spec, "sample": sample, "outputs": outputs,
        "keys": [[k, list(v.shape)] for k, v in model.state_dict().items()],
    }
    groups = [m.num_groups for m in model.modules() if isinstance(m, torch.nn.GroupNorm)]
    if groups:
        golden[name]["group_counts"] = groups
json.dump(golden, sys.stdout, indent=1)
print()
