#!/usr/bin/python3
"""make_fixtures.py -- PyTorch as the oracle for branchy's layer value tests.

Regenerate the committed fixtures from the repository root with

    /usr/bin/python3 tests/reference/make_fixtures.py [output_dir]

(`python3` on PATH may be a pyenv without torch; Debian's /usr/bin/python3 has
torch 1.13). output_dir defaults to tests/fixtures. The script is seeded and
deterministic: running it twice writes the same bytes. CI never runs it; the
.bin files are committed and tests/test_fixtures.cpp reads them.

Each case writes one file, <case>.bin, holding the layer's input `x`, its
parameters under their PyTorch state_dict names (`weight`, `bias`,
`running_mean`, `running_var`), the output `y`, a random upstream gradient `dy`,
and the gradients of y.backward(dy): `dx`, `dweight`, `dbias`. Small integers
(labels, a layer's configuration) are stored as float32 tensors too; `config`
lists the constructor arguments in the order given per layer below.

Inputs and parameters are drawn as float32. The forward and backward passes run
in float64 on those exact values and the results are rounded to float32 once,
so the reference is accurate to the last bit and the whole 1e-4 tolerance of the
C++ test belongs to the float32 implementation under test.

File format "BFX1" (all integers little-endian):

    4 bytes   magic "BFX1"
    u32       tensor count
    per tensor:
      u32       name length in bytes
      bytes     name (UTF-8, no terminator)
      u32       rank (1..5)
      i64[rank] dimensions
      f32[numel] values, row-major, little-endian

Cases and their `config`:
    conv2d_*   [in_channels, out_channels, kernel, stride, padding, groups, has_bias]
    linear_*   [in_features, out_features, has_bias]
    maxpool_*, avgpool_*   [kernel, stride, padding, ceil_mode]  (avg: count_include_pad)
    batchnorm_*  [channels, eps, momentum, train]; train-mode files also hold
                 running_mean_after / running_var_after (the buffers after the step)
    lrn_*      [size, alpha, beta, k]
    cross_entropy_*  logits (N, K), labels (N), loss (1), dlogits (N, K);
                     loss is the mean over the batch
    global_avgpool_*  no config
Blocks (layers/residual.h, layers/dense.h) hold every parameter and buffer
under its state_dict name (`conv1.weight`, `bn1.running_var`, ...), the
gradient of each trainable one as `d<name>` (`dconv1.weight`), the output of
a train-mode forward `y` (batch statistics), the output of an eval-mode
forward with the initial running statistics `y_eval`, and every running
statistic after the train-mode step as `<name>_after`:
    basic_block_*  [in, out, stride, shortcut]  shortcut 0 = projection, 1 = zero pad
    bottleneck_*   [in, bottleneck, out, stride, groups, shortcut]
    dense_layer_*  [in, growth, bottleneck_factor]
    dense_block_*  [in, layers, growth, bottleneck_factor]
    transition_*   [in, out]
"""

import os
import struct
import sys

import numpy as np
import torch
import torch.nn.functional as F

MAGIC = b"BFX1"


def write_fixture(path, tensors):
    """Writes an ordered list of (name, tensor) pairs in the BFX1 format."""
    with open(path, "wb") as out:
        out.write(MAGIC)
        out.write(struct.pack("<I", len(tensors)))
        for name, tensor in tensors:
            values = tensor.detach().to(torch.float32).contiguous().numpy()
            if values.ndim == 0:
                values = values.reshape(1)
            assert 1 <= values.ndim <= 5, name
            encoded = name.encode("utf-8")
            out.write(struct.pack("<I", len(encoded)))
            out.write(encoded)
            out.write(struct.pack("<I", values.ndim))
            out.write(struct.pack("<%dq" % values.ndim, *values.shape))
            out.write(values.astype("<f4").tobytes())


class Case:
    """Draws float32 tensors from one seeded generator and collects what to write."""

    def __init__(self, seed):
        self.generator = torch.Generator().manual_seed(seed)
        self.tensors = []

    def normal(self, *shape, scale=1.0, offset=0.0):
        return torch.randn(*shape, generator=self.generator) * scale + offset

    def uniform(self, *shape, low=0.0, high=1.0):
        return torch.rand(*shape, generator=self.generator) * (high - low) + low

    def distinct(self, *shape):
        """Values in [-1, 1) that are all different (no max-pool ties): a shuffled ramp."""
        count = int(np.prod(shape))
        order = torch.randperm(count, generator=self.generator).to(torch.float32)
        return (order * (2.0 / count) - 1.0).reshape(*shape)

    def add(self, name, tensor):
        self.tensors.append((name, tensor))

    def config(self, *values):
        self.add("config", torch.tensor(values, dtype=torch.float64))


def leaf(tensor32):
    """A float64 leaf holding exactly the float32 values that are written."""
    return tensor32.to(torch.float32).to(torch.float64).requires_grad_(True)


def run_and_record(case, function, x32, params32, dy_seed_scale=1.0):
    """Runs y = function(x, params) in float64, backward with a random dy, records all."""
    x = leaf(x32)
    params = {name: leaf(value) for name, value in params32.items()}
    y = function(x, params)
    dy32 = case.normal(*y.shape, scale=dy_seed_scale)
    y.backward(dy32.to(torch.float64))
    case.add("x", x32)
    for name, value in params32.items():
        case.add(name, value)
    case.add("y", y)
    case.add("dy", dy32)
    case.add("dx", x.grad)
    for name, value in params.items():
        case.add("d" + name, value.grad)


def conv2d_case(seed, n, c, h, out, k, stride, padding, groups, bias, w=None):
    case = Case(seed)
    w = h if w is None else w
    case.config(c, out, k, stride, padding, groups, int(bias))
    x = case.normal(n, c, h, w)
    params = {"weight": case.normal(out, c // groups, k, k, scale=0.3)}
    if bias:
        params["bias"] = case.normal(out, scale=0.5)
    run_and_record(
        case,
        lambda x, p: F.conv2d(x, p["weight"], p.get("bias"), stride, padding, 1, groups),
        x, params)
    return case


def linear_case(seed, n, features_in, features_out, bias):
    case = Case(seed)
    case.config(features_in, features_out, int(bias))
    x = case.normal(n, features_in)
    params = {"weight": case.normal(features_out, features_in, scale=0.4)}
    if bias:
        params["bias"] = case.normal(features_out, scale=0.5)
    run_and_record(case, lambda x, p: F.linear(x, p["weight"], p.get("bias")), x, params)
    return case


def pool_case(seed, kind, n, c, h, k, stride, padding, ceil_mode):
    case = Case(seed)
    case.config(k, stride, padding, int(ceil_mode))
    x = case.distinct(n, c, h, h)
    if kind == "max":
        function = lambda x, p: F.max_pool2d(x, k, stride, padding, ceil_mode=ceil_mode)
    else:
        function = lambda x, p: F.avg_pool2d(x, k, stride, padding, ceil_mode=ceil_mode,
                                             count_include_pad=True)
    run_and_record(case, function, x, {})
    return case


def batchnorm_case(seed, n, c, h, eps, momentum, train):
    case = Case(seed)
    case.config(c, eps, momentum, int(train))
    # Channels with their own mean and spread, so normalisation visibly matters.
    x = case.normal(n, c, h, h) * case.uniform(1, c, 1, 1, low=0.5, high=3.0) \
        + case.normal(1, c, 1, 1, scale=2.0)
    weight = case.normal(c, scale=0.3, offset=1.0)
    bias = case.normal(c, scale=0.5)
    running_mean = case.normal(c, scale=0.5)
    running_var = case.uniform(c, low=0.5, high=2.0)
    # The running statistics are updated in place, so keep float64 copies of them.
    running_mean64 = running_mean.to(torch.float64).clone()
    running_var64 = running_var.to(torch.float64).clone()
    run_and_record(
        case,
        lambda x, p: F.batch_norm(x, running_mean64, running_var64, p["weight"], p["bias"],
                                  training=train, momentum=momentum, eps=eps),
        x, {"weight": weight, "bias": bias})
    case.add("running_mean", running_mean)
    case.add("running_var", running_var)
    if train:
        case.add("running_mean_after", running_mean64)
        case.add("running_var_after", running_var64)
    return case


def lrn_case(seed, n, c, h, size, alpha, beta, k):
    case = Case(seed)
    case.config(size, alpha, beta, k)
    x = case.normal(n, c, h, h, scale=2.0)
    run_and_record(case, lambda x, p: F.local_response_norm(x, size, alpha, beta, k), x, {})
    return case


def cross_entropy_case(seed, n, classes, scale, offset=0.0):
    case = Case(seed)
    logits32 = case.normal(n, classes, scale=scale, offset=offset)
    labels = torch.randint(0, classes, (n,), generator=case.generator)
    logits = leaf(logits32)
    loss = F.cross_entropy(logits, labels)
    loss.backward()
    case.add("logits", logits32)
    case.add("labels", labels.to(torch.float32))
    case.add("loss", loss.reshape(1))
    case.add("dlogits", logits.grad)
    return case


# --- blocks -----------------------------------------------------------------
# Each block is written as plain functional code over a dict of float64
# tensors named as in the state_dict, from the definitions in
# layers/residual.h and layers/dense.h (not from the C++ code).

BN_EPS, BN_MOMENTUM = 1e-5, 0.1


class BlockParams:
    """Draws a block's parameters and buffers by state_dict name, in order."""

    def __init__(self, case):
        self.case = case
        self.trainable = {}  # name -> float32 tensor
        self.buffers = {}    # name -> float32 tensor (running statistics)

    def conv(self, name, out, fan_in_per_group, kernel):
        scale = (2.0 / (fan_in_per_group * kernel * kernel)) ** 0.5
        self.trainable[name + ".weight"] = self.case.normal(out, fan_in_per_group, kernel, kernel, scale=scale)

    def bn(self, name, channels):
        self.trainable[name + ".weight"] = self.case.normal(channels, scale=0.3, offset=1.0)
        self.trainable[name + ".bias"] = self.case.normal(channels, scale=0.5)
        self.buffers[name + ".running_mean"] = self.case.normal(channels, scale=0.5)
        self.buffers[name + ".running_var"] = self.case.uniform(channels, low=0.5, high=2.0)


def batch_norm(p, name, x, training, running):
    return F.batch_norm(x, running[name + ".running_mean"], running[name + ".running_var"], p[name + ".weight"],
                        p[name + ".bias"], training=training, momentum=BN_MOMENTUM, eps=BN_EPS)


def zero_pad_shortcut(x, out_channels, stride):
    """x[:, :, ::s, ::s] with (out - in) // 2 zero channels before and the rest after."""
    sampled = x[:, :, ::stride, ::stride]
    front = (out_channels - x.shape[1]) // 2
    back = out_channels - x.shape[1] - front
    return F.pad(sampled, (0, 0, 0, 0, front, back))


def shortcut_forward(p, x, in_channels, out_channels, stride, zero_pad, training, running):
    if in_channels == out_channels and stride == 1:
        return x
    if zero_pad:
        return zero_pad_shortcut(x, out_channels, stride)
    h = F.conv2d(x, p["shortcut.0.weight"], None, stride)
    return batch_norm(p, "shortcut.1", h, training, running)


def basic_block_case(seed, n, h, in_channels, out_channels, stride, zero_pad):
    case = Case(seed)
    case.config(in_channels, out_channels, stride, int(zero_pad))
    x = case.normal(n, in_channels, h, h)
    params = BlockParams(case)
    params.conv("conv1", out_channels, in_channels, 3)
    params.bn("bn1", out_channels)
    params.conv("conv2", out_channels, out_channels, 3)
    params.bn("bn2", out_channels)
    if (in_channels != out_channels or stride != 1) and not zero_pad:
        params.conv("shortcut.0", out_channels, in_channels, 1)
        params.bn("shortcut.1", out_channels)

    def block(p, x, training, running):
        h = F.relu(batch_norm(p, "bn1", F.conv2d(x, p["conv1.weight"], None, stride, 1), training, running))
        main = batch_norm(p, "bn2", F.conv2d(h, p["conv2.weight"], None, 1, 1), training, running)
        skip = shortcut_forward(p, x, in_channels, out_channels, stride, zero_pad, training, running)
        return F.relu(main + skip)

    run_block_and_record(case, block, x, params)
    return case


def bottleneck_case(seed, n, h, in_channels, bottleneck, out_channels, stride, groups):
    case = Case(seed)
    case.config(in_channels, bottleneck, out_channels, stride, groups, 0)
    x = case.normal(n, in_channels, h, h)
    params = BlockParams(case)
    params.conv("conv1", bottleneck, in_channels, 1)
    params.bn("bn1", bottleneck)
    params.conv("conv2", bottleneck, bottleneck // groups, 3)
    params.bn("bn2", bottleneck)
    params.conv("conv3", out_channels, bottleneck, 1)
    params.bn("bn3", out_channels)
    if in_channels != out_channels or stride != 1:
        params.conv("shortcut.0", out_channels, in_channels, 1)
        params.bn("shortcut.1", out_channels)

    def block(p, x, training, running):
        h = F.relu(batch_norm(p, "bn1", F.conv2d(x, p["conv1.weight"]), training, running))
        h = F.relu(batch_norm(p, "bn2", F.conv2d(h, p["conv2.weight"], None, stride, 1, 1, groups), training,
                              running))
        main = batch_norm(p, "bn3", F.conv2d(h, p["conv3.weight"]), training, running)
        skip = shortcut_forward(p, x, in_channels, out_channels, stride, False, training, running)
        return F.relu(main + skip)

    run_block_and_record(case, block, x, params)
    return case


def add_dense_layer_params(params, prefix, in_channels, growth, factor):
    params.bn(prefix + "norm1", in_channels)
    if factor > 0:
        params.conv(prefix + "conv1", factor * growth, in_channels, 1)
        params.bn(prefix + "norm2", factor * growth)
        params.conv(prefix + "conv2", growth, factor * growth, 3)
    else:
        params.conv(prefix + "conv1", growth, in_channels, 3)


def dense_layer_forward(p, prefix, x, factor, training, running):
    """torchvision's _DenseLayer: BN-ReLU-conv (1x1 to f*k, then BN-ReLU-conv 3x3 to k), concatenated."""
    h = F.relu(batch_norm(p, prefix + "norm1", x, training, running))
    if factor > 0:
        h = F.conv2d(h, p[prefix + "conv1.weight"])
        h = F.relu(batch_norm(p, prefix + "norm2", h, training, running))
        new = F.conv2d(h, p[prefix + "conv2.weight"], None, 1, 1)
    else:
        new = F.conv2d(h, p[prefix + "conv1.weight"], None, 1, 1)
    return torch.cat([x, new], 1)


def dense_layer_case(seed, n, h, in_channels, growth, factor):
    case = Case(seed)
    case.config(in_channels, growth, factor)
    x = case.normal(n, in_channels, h, h)
    params = BlockParams(case)
    add_dense_layer_params(params, "", in_channels, growth, factor)
    run_block_and_record(case, lambda p, x, t, r: dense_layer_forward(p, "", x, factor, t, r), x, params)
    return case


def dense_block_case(seed, n, h, in_channels, layers, growth, factor):
    case = Case(seed)
    case.config(in_channels, layers, growth, factor)
    x = case.normal(n, in_channels, h, h)
    params = BlockParams(case)
    for i in range(layers):
        add_dense_layer_params(params, "denselayer%d." % (i + 1), in_channels + i * growth, growth, factor)

    def block(p, x, training, running):
        for i in range(layers):
            x = dense_layer_forward(p, "denselayer%d." % (i + 1), x, factor, training, running)
        return x

    run_block_and_record(case, block, x, params)
    return case


def transition_case(seed, n, h, in_channels, out_channels):
    case = Case(seed)
    case.config(in_channels, out_channels)
    x = case.normal(n, in_channels, h, h)
    params = BlockParams(case)
    params.bn("norm", in_channels)
    params.conv("conv", out_channels, in_channels, 1)

    def block(p, x, training, running):
        h = F.conv2d(F.relu(batch_norm(p, "norm", x, training, running)), p["conv.weight"])
        return F.avg_pool2d(h, 2, 2)

    run_block_and_record(case, block, x, params)
    return case


def run_block_and_record(case, block, x32, params):
    """Eval forward with the initial running statistics, then a train-mode step in float64."""
    running_eval = {k: v.to(torch.float64).clone() for k, v in params.buffers.items()}
    with torch.no_grad():
        p_eval = {k: v.to(torch.float64) for k, v in params.trainable.items()}
        y_eval = block(p_eval, x32.to(torch.float64), False, running_eval)
    running = {k: v.to(torch.float64).clone() for k, v in params.buffers.items()}
    x = leaf(x32)
    p = {name: leaf(value) for name, value in params.trainable.items()}
    y = block(p, x, True, running)
    dy32 = case.normal(*y.shape)
    y.backward(dy32.to(torch.float64))
    case.add("x", x32)
    for name, value in list(params.trainable.items()) + list(params.buffers.items()):
        case.add(name, value)
    case.add("y", y)
    case.add("y_eval", y_eval)
    case.add("dy", dy32)
    case.add("dx", x.grad)
    for name, value in p.items():
        case.add("d" + name, value.grad)
    for name, value in running.items():
        case.add(name + "_after", value)


def global_avgpool_case(seed, n, c, h, w):
    case = Case(seed)
    run_and_record(case, lambda x, p: x.mean(dim=(2, 3)), case.normal(n, c, h, w), {})
    return case


def all_cases():
    """(file stem, Case) for every fixture; the seed is the position in this list."""
    makers = [
        # conv2d: groups 1/2/4/depthwise, stride 1/2, padding 0/1/3, kernel 1/3/5, bias or not.
        ("conv2d_c4_o8_k3_s1_p1_g1", lambda s: conv2d_case(s, 2, 4, 9, 8, 3, 1, 1, 1, True)),
        ("conv2d_c4_o8_k3_s1_p1_g2", lambda s: conv2d_case(s, 2, 4, 9, 8, 3, 1, 1, 2, True)),
        ("conv2d_c8_o8_k3_s2_p1_g4", lambda s: conv2d_case(s, 2, 8, 9, 8, 3, 2, 1, 4, True)),
        ("conv2d_c3_o5_k5_s1_p3_g1", lambda s: conv2d_case(s, 2, 3, 13, 5, 5, 1, 3, 1, True)),
        ("conv2d_c4_o6_k1_s1_p0_g1_nobias",
         lambda s: conv2d_case(s, 2, 4, 9, 6, 1, 1, 0, 1, False)),
        ("conv2d_c4_o8_k3_s2_p0_g1", lambda s: conv2d_case(s, 2, 4, 10, 8, 3, 2, 0, 1, True)),
        ("conv2d_c4_o4_k1_s2_p0_g2_nobias",
         lambda s: conv2d_case(s, 2, 4, 7, 4, 1, 2, 0, 2, False)),
        ("conv2d_c4_o4_k3_s1_p1_g4_nobias",
         lambda s: conv2d_case(s, 1, 4, 6, 4, 3, 1, 1, 4, False, w=7)),
        # linear
        ("linear_i7_o5", lambda s: linear_case(s, 4, 7, 5, True)),
        ("linear_i6_o4_nobias", lambda s: linear_case(s, 3, 6, 4, False)),
        # max pooling; p1 k2 s2 ceil on an odd size drops the window that would start in the pad
        ("maxpool_k2_s2_p0_ceil_17", lambda s: pool_case(s, "max", 2, 3, 17, 2, 2, 0, True)),
        ("maxpool_k2_s2_p0_ceil_15", lambda s: pool_case(s, "max", 2, 3, 15, 2, 2, 0, True)),
        ("maxpool_k3_s2_p1_ceil_10", lambda s: pool_case(s, "max", 2, 3, 10, 3, 2, 1, True)),
        ("maxpool_k3_s1_p0_floor_8", lambda s: pool_case(s, "max", 2, 3, 8, 3, 1, 0, False)),
        ("maxpool_k2_s2_p0_floor_9", lambda s: pool_case(s, "max", 2, 3, 9, 2, 2, 0, False)),
        ("maxpool_k2_s2_p1_ceil_5", lambda s: pool_case(s, "max", 2, 3, 5, 2, 2, 1, True)),
        # average pooling (count_include_pad=True; a window clipped by ceil mode divides by
        # its size within the padded input, as PyTorch does)
        ("avgpool_k2_s2_p0_ceil_9", lambda s: pool_case(s, "avg", 2, 3, 9, 2, 2, 0, True)),
        ("avgpool_k3_s2_p1_ceil_10", lambda s: pool_case(s, "avg", 2, 3, 10, 3, 2, 1, True)),
        ("avgpool_k2_s2_p0_floor_9", lambda s: pool_case(s, "avg", 2, 3, 9, 2, 2, 0, False)),
        ("avgpool_k2_s2_p1_ceil_5", lambda s: pool_case(s, "avg", 2, 3, 5, 2, 2, 1, True)),
        # batch norm
        ("batchnorm_train_c3", lambda s: batchnorm_case(s, 4, 3, 5, 1e-5, 0.1, True)),
        ("batchnorm_train_c4_eps1e-3_m0.3",
         lambda s: batchnorm_case(s, 2, 4, 3, 1e-3, 0.3, True)),
        ("batchnorm_eval_c3", lambda s: batchnorm_case(s, 4, 3, 5, 1e-5, 0.1, False)),
        # local response norm (alpha 0.5 makes the normaliser dominate)
        ("lrn_size3_alpha1e-4_k1", lambda s: lrn_case(s, 2, 7, 4, 3, 1e-4, 0.75, 1.0)),
        ("lrn_size5_alpha1e-4_k2", lambda s: lrn_case(s, 2, 7, 4, 5, 1e-4, 0.75, 2.0)),
        ("lrn_size5_alpha0.5_k1", lambda s: lrn_case(s, 2, 7, 4, 5, 0.5, 0.75, 1.0)),
        ("lrn_size3_alpha0.5_k2", lambda s: lrn_case(s, 2, 7, 4, 3, 0.5, 0.75, 2.0)),
        # cross-entropy, ordinary and with large logits (exp would overflow without the max shift)
        ("cross_entropy_n6_k10", lambda s: cross_entropy_case(s, 6, 10, 2.0)),
        ("cross_entropy_large_logits", lambda s: cross_entropy_case(s, 5, 7, 60.0, 1000.0)),
        # residual basic blocks: identity, projection and zero-pad shortcuts (stride 2 on odd sizes)
        ("basic_block_i4_o4_s1_identity", lambda s: basic_block_case(s, 2, 6, 4, 4, 1, False)),
        ("basic_block_i4_o8_s2_projection", lambda s: basic_block_case(s, 2, 7, 4, 8, 2, False)),
        ("basic_block_i4_o8_s2_zeropad", lambda s: basic_block_case(s, 2, 7, 4, 8, 2, True)),
        ("basic_block_i3_o6_s1_zeropad", lambda s: basic_block_case(s, 2, 5, 3, 6, 1, True)),
        # bottlenecks: plain (groups 1) and grouped ResNeXt blocks
        ("bottleneck_i8_b4_o16_s1_g1_projection", lambda s: bottleneck_case(s, 2, 5, 8, 4, 16, 1, 1)),
        ("bottleneck_i8_b8_o16_s2_g4_projection", lambda s: bottleneck_case(s, 2, 7, 8, 8, 16, 2, 4)),
        ("bottleneck_i16_b8_o16_s1_g2_identity", lambda s: bottleneck_case(s, 2, 5, 16, 8, 16, 1, 2)),
        # DenseNet(-BC) layers, a block and a transition (2x2 average pooling, floor on 7)
        ("dense_layer_i6_k4_bc2", lambda s: dense_layer_case(s, 2, 5, 6, 4, 2)),
        ("dense_layer_i6_k3_plain", lambda s: dense_layer_case(s, 2, 5, 6, 3, 0)),
        ("dense_block_i4_l3_k3_bc2", lambda s: dense_block_case(s, 2, 5, 4, 3, 3, 2)),
        ("transition_i10_o5", lambda s: transition_case(s, 2, 7, 10, 5)),
        # global average pooling on a non-square plane
        ("global_avgpool_c3_5x4", lambda s: global_avgpool_case(s, 2, 3, 5, 4)),
    ]
    return [(stem, make(seed + 1)) for seed, (stem, make) in enumerate(makers)]


def main():
    torch.use_deterministic_algorithms(True)
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join("tests", "fixtures")
    os.makedirs(out_dir, exist_ok=True)
    total = 0
    for stem, case in all_cases():
        path = os.path.join(out_dir, stem + ".bin")
        write_fixture(path, case.tensors)
        total += os.path.getsize(path)
        print("%-40s %7d bytes" % (path, os.path.getsize(path)))
    print("total %d bytes" % total)


if __name__ == "__main__":
    main()
