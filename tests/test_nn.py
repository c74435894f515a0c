"""harness.nn: ensemble layers equal per-member torch modules, and nothing in an update mixes members."""
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from harness import nn as enn

torch.set_num_threads(1)


def _linears(seeds, d_in, d_out):
    out = []
    for s in seeds:
        torch.manual_seed(s)
        out.append(nn.Linear(d_in, d_out))
    return out


def test_ensemble_linear_init_and_forward_equal_per_member_nn_linear():
    seeds, d_in, d_out = [10, 11, 12], 5, 7
    layer = enn.init_members(enn.EnsembleLinear(3, d_in, d_out), enn.member_generators(seeds))
    linears = _linears(seeds, d_in, d_out)
    x = torch.randn(3, 9, d_in, requires_grad=True)
    y = layer(x)
    for e, lin in enumerate(linears):
        assert torch.equal(layer.weight[e], lin.weight.T)  # same draws as nn.Linear after manual_seed
        assert torch.equal(layer.bias[e, 0], lin.bias)
        torch.testing.assert_close(y[e], lin(x[e]), rtol=1e-6, atol=1e-6)
    # gradients too
    y.square().sum().backward()
    for e, lin in enumerate(linears):
        xe = x[e].detach().requires_grad_(True)
        lin(xe).square().sum().backward()
        torch.testing.assert_close(layer.weight.grad[e], lin.weight.grad.T, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(layer.bias.grad[e, 0], lin.bias.grad, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(x.grad[e], xe.grad, rtol=1e-5, atol=1e-5)


@settings(max_examples=25, deadline=None)
@given(e=st.integers(1, 4), b=st.integers(1, 6), t=st.integers(1, 3), d_in=st.integers(1, 8),
       d_out=st.integers(1, 8))
def test_ensemble_linear_applies_row_e_to_input_e_for_any_shape(e, b, t, d_in, d_out):
    layer = enn.EnsembleLinear(e, d_in, d_out)
    x = torch.randn(e, b, t, d_in)
    y = layer(x)
    assert y.shape == (e, b, t, d_out)
    for i in range(e):
        torch.testing.assert_close(y[i], x[i] @ layer.weight[i] + layer.bias[i, 0], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("make", [
    lambda e: enn.ensemble_mlp(e, 6, [16, 16], 2),
    lambda e: enn.simba_encoder(e, 6, 8, blocks=2),
])
@pytest.mark.parametrize("k", [1, 2])  # k rows per member (2: SAC's twin critics)
def test_member_init_depends_on_its_seed_alone(make, k):
    big = enn.init_members(make(3 * k), enn.member_generators([100, 101, 102]))
    small = enn.init_members(make(1 * k), enn.member_generators([101]))
    for name, t in enn.member_state(small, 0, 1).items():
        assert torch.equal(enn.member_state(big, 1, 3)[name], t), name


def test_init_kinds_have_the_documented_statistics():
    g = enn.member_generators([0])
    he = enn.EnsembleLinear(1, 400, 300, init="he_normal")
    he.reset_parameters(g)
    w = he.weight[0]
    assert abs(w.std().item() - math.sqrt(2 / 400)) < 0.02 * math.sqrt(2 / 400)  # truncated normal, He std
    assert w.abs().max().item() <= 2 * math.sqrt(2 / 400) / 0.87962566103423978 + 1e-6
    assert torch.count_nonzero(he.bias) == 0
    orth = enn.EnsembleLinear(1, 64, 32, init="orthogonal", gain=1.0)
    orth.reset_parameters(g)
    w = orth.weight[0]  # (in, out): orthonormal columns
    torch.testing.assert_close(w.T @ w, torch.eye(32), atol=1e-5, rtol=0)


def test_simba_residual_block_is_pre_layernorm_with_4x_inner_width():
    block = enn.ResidualBlock(2, 8)
    assert block.fc1.out_features == 32 and block.fc2.in_features == 32
    x = torch.randn(2, 5, 8)
    for e in range(2):
        h = nn.functional.layer_norm(x[e], (8,), eps=1e-6) * block.norm.weight[e, 0] + block.norm.bias[e, 0]
        h = torch.relu(h @ block.fc1.weight[e] + block.fc1.bias[e, 0]) @ block.fc2.weight[e] + block.fc2.bias[e, 0]
        torch.testing.assert_close(block(x)[e], x[e] + h, rtol=1e-5, atol=1e-5)
    enc = enn.simba_encoder(2, 3, 8, blocks=2)
    assert isinstance(enc[0], enn.EnsembleLinear) and isinstance(enc[-1], enn.EnsembleLayerNorm)
    assert sum(isinstance(mod, enn.ResidualBlock) for mod in enc) == 2


@pytest.mark.parametrize("weight_decay", [0.0, 0.01])
def test_ensemble_adam_equals_one_torch_adam_per_member(weight_decay):
    torch.manual_seed(0)
    init = torch.randn(3, 4, 5)
    batched = nn.Parameter(init.clone())
    opt = enn.EnsembleAdam([batched], members=3, lr=1e-2, weight_decay=weight_decay)
    singles = [nn.Parameter(init[i].clone()) for i in range(3)]
    cls = torch.optim.AdamW if weight_decay else torch.optim.Adam
    torch_opts = [cls([p], lr=1e-2, weight_decay=weight_decay, foreach=False) for p in singles]
    for _ in range(25):
        grads = torch.randn(3, 4, 5)
        batched.grad = grads.clone()
        opt.step()
        for i in range(3):
            singles[i].grad = grads[i].clone()
            torch_opts[i].step()
    for i in range(3):
        assert torch.equal(batched.data[i], singles[i].data)  # same arithmetic, bit for bit


def test_frozen_member_is_untouched_and_others_are_bit_identical():
    torch.manual_seed(0)
    init = torch.randn(6, 3)  # 3 members x 2 rows each
    runs = {}
    for frozen in ([], [1]):
        p = nn.Parameter(init.clone())
        opt = enn.EnsembleAdam([p], members=3, lr=1e-2)
        gen = torch.Generator().manual_seed(1)
        for step in range(10):
            g = torch.randn(6, 3, generator=gen)
            if frozen and step >= 4:
                g[2:4] = math.nan  # member 1's rows
            p.grad = g
            opt.step(frozen=frozen if step >= 4 else [])
            if step == 3:
                before = p.detach()[2:4].clone(), opt.state[p]["exp_avg"][2:4].clone()
        runs[tuple(frozen)] = p.detach().clone()
        if frozen:
            assert torch.equal(p.detach()[2:4], before[0])
            assert torch.equal(opt.state[p]["exp_avg"][2:4], before[1])
    for rows in (slice(0, 2), slice(4, 6)):
        assert torch.equal(runs[()][rows], runs[(1,)][rows])


def test_per_member_grad_clipping_equals_torch_clipping_per_member():
    torch.manual_seed(0)
    a, b = nn.Parameter(torch.randn(4, 3)), nn.Parameter(torch.randn(2, 5))  # 2 members: 2 and 1 rows each
    a.grad, b.grad = torch.randn(4, 3) * 10, torch.randn(2, 5) * 0.01
    expected = []
    for i in range(2):
        pa, pb = nn.Parameter(a[2 * i:2 * i + 2].clone()), nn.Parameter(b[i:i + 1].clone())
        pa.grad, pb.grad = a.grad[2 * i:2 * i + 2].clone(), b.grad[i:i + 1].clone()
        norm = torch.nn.utils.clip_grad_norm_([pa, pb], max_norm=1.0)
        expected.append((norm, pa.grad, pb.grad))
    norms = enn.clip_grad_norm_([a, b], max_norm=1.0, members=2)
    for i, (norm, ga, gb) in enumerate(expected):
        torch.testing.assert_close(norms[i], norm)
        torch.testing.assert_close(a.grad[2 * i:2 * i + 2], ga)
        torch.testing.assert_close(b.grad[i:i + 1], gb)


def test_nonfinite_members_count_params_and_polyak():
    t = torch.zeros(6, 2)
    t[3, 1] = math.inf
    assert enn.nonfinite_members([t, torch.zeros(3)], members=3).tolist() == [False, True, False]
    assert enn.count_params(enn.ensemble_mlp(3, 4, [8], 1), members=3) == (4 * 8 + 8) + (8 + 1)
    target, source = [torch.zeros(3, 2)], [torch.ones(3, 2)]
    source[0][1] = math.nan
    enn.polyak_update_(target, source, tau=0.25, members=3, frozen=[1])
    assert target[0].tolist() == [[0.25, 0.25], [0.0, 0.0], [0.25, 0.25]]


def test_running_mean_std_matches_the_reference_formula():
    rng = np.random.default_rng(0)
    xs = rng.normal(3.0, 2.0, size=(50, 2, 4))
    rms = enn.RunningMeanStd(members=2, dim=4)
    mean, var, count = np.zeros((2, 4)), np.ones((2, 4)), 1e-4  # gymnasium / SimBa RunningMeanStd
    for x in xs:
        rms.update(torch.as_tensor(x))
        delta, tot = x - mean, count + 1
        mean, var, count = mean + delta / tot, (var * count + delta ** 2 * count / tot) / tot, tot
    np.testing.assert_allclose(rms.mean.numpy(), mean, rtol=1e-12)
    np.testing.assert_allclose(rms.var.numpy(), var, rtol=1e-12)
    y = rms.normalize(torch.as_tensor(xs[:3].transpose(1, 0, 2), dtype=torch.float32))  # (M, 3, dim)
    np.testing.assert_allclose(y.numpy(), (xs[:3].transpose(1, 0, 2) - mean[:, None]) / np.sqrt(var[:, None] + 1e-8),
                               rtol=1e-4, atol=1e-5)
    rms.update(torch.as_tensor(xs[0]), frozen=[0])
    np.testing.assert_allclose(rms.mean.numpy()[0], mean[0], rtol=0)


def test_member_sampler_streams_do_not_depend_on_the_other_members():
    big = enn.MemberSampler([5, 6, 7], (3, 2), chunk=4)
    small = enn.MemberSampler([6], (3, 2), chunk=4)
    for _ in range(9):  # across chunk boundaries
        assert torch.equal(big()[1], small()[0])
    u = enn.MemberSampler([1, 2], (100,), kind="uniform", dtype=torch.float64)()
    assert u.shape == (2, 100) and u.dtype == torch.float64 and 0 <= u.min() and u.max() < 1
