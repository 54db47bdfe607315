"""PyTorch twins of BatchNormLab's models (src/BatchNormLab/Models), built from a bnlab config.json,
with the same state-dict keys and shapes, so a bnlab checkpoint loads with load_state_dict(strict=True)."""
import re

import torch
import torch.nn as nn

VGG = {
    11: [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    13: [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    16: [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    19: [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"],
}


def activation(options):
    return {"relu": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh}[options["activation"]]()


class NoisyBatchNorm(nn.Module):
    """bnlab's NoisyBatchNorm (Santurkar et al. 2018, Fig. 2): a <- s*a + m in training, the expected noise
    E[s]*a + E[m] = 1.125*a in eval; no parameters. Default noise of Santurkar et al. 2018, Fig. 2."""

    def forward(self, x):
        if not self.training:
            return 1.125 * x
        mean, scale = torch.empty(()).uniform_(-0.5, 0.5), torch.empty(()).uniform_(1.0, 1.25)
        return x * (scale + 0.1 * torch.randn_like(x)) + (mean + torch.empty_like(x).uniform_(-0.1, 0.1))


class LpNorm(nn.Module):
    """bnlab's LpNorm (src/BatchNormLab/Nn/LpNorm.cs): BN with the std replaced by the lp average of the
    centred values (or, uncentred, of the values themselves, the running mean staying 0), p in {1, 2, inf};
    same buffers and eval formula."""

    def __init__(self, features, p, eps=1e-5, momentum=0.1, centred=True):
        super().__init__()
        self.p, self.eps, self.momentum, self.root, self.centred = p, eps, momentum, 2 if p == 2 else 1, centred
        self.weight = nn.Parameter(torch.ones(features))
        self.bias = nn.Parameter(torch.zeros(features))
        self.register_buffer("running_mean", torch.zeros(features))
        self.register_buffer("running_scale", torch.ones(features))
        self.register_buffer("num_batches_tracked", torch.tensor(0, dtype=torch.long))

    def forward(self, x):
        dims = [0] + list(range(2, x.dim()))
        shape = [1, -1] + [1] * (x.dim() - 2)
        if self.training:
            mean = x.mean(dims) if self.centred else torch.zeros_like(self.running_mean)
            c = x - mean.view(shape)
            m = c.abs().amax(dims) if self.p == float("inf") else c.abs().pow(self.p).mean(dims)
            with torch.no_grad():
                self.num_batches_tracked += 1
                f = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
                self.running_mean.mul_(1 - f).add_(f * mean)
                self.running_scale.mul_(1 - f).add_(f * m.pow(1.0 / self.root))
            d = (m + self.eps).pow(1.0 / self.root)
        else:
            c = x - self.running_mean.view(shape)
            d = (self.running_scale.pow(self.root) + self.eps).pow(1.0 / self.root)
        return self.weight.view(shape) * c / d.view(shape) + self.bias.view(shape)


class BatchRenorm(nn.modules.batchnorm._BatchNorm):
    """bnlab's BatchRenorm1d/2d (src/BatchNormLab/Nn/BatchRenorm.cs; Ioffe 2017): in training
    y = weight*((x - mu_B)/sigma_B*r + d) + bias with r = clip(sigma_B/sigma, 1/r_max, r_max),
    d = clip((mu_B - mu)/sigma, -d_max, d_max) (no gradient through r, d), sigma = sqrt(running_var + eps);
    r_max, d_max ramp linearly from 1, 0 after `fixed` steps to their final values; running statistics
    and eval as BatchNorm's, so the state dict is BatchNorm's."""

    def __init__(self, features, schedule=None):
        super().__init__(features)
        s = schedule or {}
        self.r_max, self.d_max = s.get("r_max", 3.0), s.get("d_max", 5.0)
        self.fixed, self.r_steps, self.d_steps = s.get("fixed_steps", 5000), s.get("r_max_steps", 40000), s.get("d_max_steps", 25000)

    def _check_input_dim(self, x):
        if x.dim() < 2:
            raise ValueError(f"expected (N, C, ...) input, got {x.dim()}D")

    def ramp(self, start, end, last):
        t = int(self.num_batches_tracked)
        if t >= last:
            return end
        return start if t <= self.fixed else start + (end - start) * (t - self.fixed) / (last - self.fixed)

    def forward(self, x):
        if not self.training:
            return super().forward(x)
        dims = [0] + list(range(2, x.dim()))
        shape = [1, -1] + [1] * (x.dim() - 2)
        mean = x.mean(dims)
        var = x.var(dims, unbiased=False)
        sigma_b = (var + self.eps).sqrt()
        with torch.no_grad():
            sigma = (self.running_var + self.eps).sqrt()
            r_max, d_max = self.ramp(1.0, self.r_max, self.r_steps), self.ramp(0.0, self.d_max, self.d_steps)
            r = (sigma_b / sigma).clamp(1 / r_max, r_max)
            d = ((mean - self.running_mean) / sigma).clamp(-d_max, d_max)
            m = x.numel() // x.shape[1]
            self.num_batches_tracked += 1
            f = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
            self.running_mean.mul_(1 - f).add_(f * mean)
            self.running_var.mul_(1 - f).add_(f * var * m / (m - 1))
        xhat = (x - mean.view(shape)) / sigma_b.view(shape) * r.view(shape) + d.view(shape)
        return self.weight.view(shape) * xhat + self.bias.view(shape)


class GhostBatchNorm(nn.modules.batchnorm._BatchNorm):
    """bnlab's GhostBatchNorm1d/2d (src/BatchNormLab/Nn/GhostBatchNorm.cs): BatchNorm applied to each chunk
    of `virtual_batch_size` samples in turn (running statistics updated per chunk); eval is BatchNorm's."""

    def __init__(self, features, virtual_batch_size=32):
        super().__init__(features)
        self.virtual_batch_size = virtual_batch_size

    def _check_input_dim(self, x):
        if x.dim() < 2:
            raise ValueError(f"expected (N, C, ...) input, got {x.dim()}D")

    def forward(self, x):
        if not self.training:
            return super().forward(x)
        return torch.cat([super(GhostBatchNorm, self).forward(c) for c in x.split(self.virtual_batch_size)])


def group_count(channels, spatial, options):
    """bnlab's ModelOptions.GroupCount: the largest divisor of C not above `groups` (32), on Linear layers also not above C/2."""
    groups = options.get("groups", 32)
    limit = min(channels, groups if spatial else min(groups, channels // 2))
    for g in range(limit, 1, -1):
        if channels % g == 0:
            return g
    return 1


def instance_norm(features, spatial):
    if not spatial:
        raise ValueError("instance-norm needs spatial dimensions (vgg or resnet)")
    return nn.InstanceNorm2d(features, affine=True)


def norm_layers(features, spatial, options):
    """The normalisation layers of one block (bnlab's ModelOptions.NormLayers)."""
    affine = options.get("norm_affine", True)
    bn = lambda n: (nn.BatchNorm2d if spatial else nn.BatchNorm1d)(n, affine=affine)
    return {
        "none": lambda: [],
        "batch-norm": lambda: [bn(features)],
        "noisy-batch-norm": lambda: [bn(features), NoisyBatchNorm()],
        "noise": lambda: [NoisyBatchNorm()],
        "l1": lambda: [LpNorm(features, 1)],
        "l2": lambda: [LpNorm(features, 2)],
        "linf": lambda: [LpNorm(features, float("inf"))],
        "l1-uncentred": lambda: [LpNorm(features, 1, centred=False)],
        "l2-uncentred": lambda: [LpNorm(features, 2, centred=False)],
        "linf-uncentred": lambda: [LpNorm(features, float("inf"), centred=False)],
        "group-norm": lambda: [nn.GroupNorm(group_count(features, spatial, options), features)],
        # Wu and He 2018: LayerNorm of a conv layer normalises over (C, H, W) with per-channel affine.
        "layer-norm": lambda: [nn.GroupNorm(1, features) if spatial else nn.LayerNorm(features)],
        "instance-norm": lambda: [instance_norm(features, spatial)],
        "batch-renorm": lambda: [BatchRenorm(features, options.get("renorm"))],
        "ghost-batch-norm": lambda: [GhostBatchNorm(features, options.get("ghost_batch_size", 32))],
    }[options["norm"]]()


def single_norm(features, options):
    """The one norm layer of a ResNet slot (bn1, bn2), or None."""
    layers = norm_layers(features, True, options)
    return layers[0] if layers else None


def block(layer, features, spatial, options, activate=True):
    """layer, then the norm layers and activation in the configured order (bnlab's ModelOptions.Block)."""
    before = options["placement"] == "before-activation" or not activate
    norms = norm_layers(features, spatial, options)
    out = [layer]
    if before:
        out += norms
    if activate:
        out.append(activation(options))
    if not before:
        out += norms
    return out


class Vgg(nn.Module):
    def __init__(self, depth, in_channels, size, classes, width, options):
        super().__init__()
        layers, c = [], in_channels
        for v in VGG[depth]:
            if v == "M":
                if size >= 2:
                    layers.append(nn.MaxPool2d(2))
                    size //= 2
                continue
            o = max(1, int(round(v * width)))
            layers += block(nn.Conv2d(c, o, 3, padding=1), o, True, options)
            c = o
        layers.append(nn.Flatten())
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(c * size * size, classes)

    def forward(self, x):
        return self.classifier(self.features(x))


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride, options):
        super().__init__()
        self.options = options
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = single_norm(cout, options)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = single_norm(cout, options)
        self.shortcut = None
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), *norm_layers(cout, True, options))
        self.act = activation(options)

    def forward(self, x):
        y = norm_activate(self.conv1(x), self.bn1, self.act, self.options)
        y = self.conv2(y)
        if self.bn2 is not None:
            y = self.bn2(y)
        return self.act(y + (x if self.shortcut is None else self.shortcut(x)))


def norm_activate(x, bn, act, options):
    if bn is None:
        return act(x)
    return act(bn(x)) if options["placement"] == "before-activation" else bn(act(x))


class ResNetCifar(nn.Module):
    def __init__(self, depth, in_channels, classes, options):
        super().__init__()
        n = (depth - 2) // 6
        self.options = options
        self.conv1 = nn.Conv2d(in_channels, 16, 3, padding=1, bias=False)
        self.bn1 = single_norm(16, options)
        self.act = activation(options)
        c, stages = 16, []
        for s in range(3):
            w = 16 << s
            blocks = []
            for b in range(n):
                blocks.append(BasicBlock(c, w, 2 if b == 0 and s > 0 else 1, options))
                c = w
            stages.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3 = stages
        self.linear = nn.Linear(c, classes)

    def forward(self, x):
        x = norm_activate(self.conv1(x), self.bn1, self.act, self.options)
        x = self.layer3(self.layer2(self.layer1(x)))
        x = nn.functional.avg_pool2d(x, x.shape[2]).flatten(1)
        return self.linear(x)


def build(config, sample, outputs):
    """The model of a bnlab config.json for one input of shape `sample` ([C, H, W] or [D])."""
    spec = config["model"]
    name, options = spec["name"], spec["options"]
    features = 1
    for d in sample:
        features *= d
    if name == "mlp":
        layers, width = [nn.Flatten()], features
        for h in spec.get("hidden") or [256, 256]:
            layers += block(nn.Linear(width, h), h, False, options)
            width = h
        return nn.Sequential(*layers, nn.Linear(width, outputs))
    if name == "dln":
        width, layers = int(spec["width"]), []
        for i in range(spec["depth"]):
            layer = nn.Linear(width, width, bias=False)
            layers += [layer] if i == spec["depth"] - 1 else block(layer, width, False, options, activate=False)
        return nn.Sequential(*layers)
    if m := re.fullmatch(r"vgg(\d+)", name):
        return Vgg(int(m.group(1)), sample[0], sample[1], outputs, spec["width"], options)
    if m := re.fullmatch(r"resnet(\d+)", name):
        return ResNetCifar(int(m.group(1)), sample[0], outputs, options)
    raise ValueError(f"unknown model {name}")
