"""harness/compute.py: the precision setting and the fused ensemble Adam."""
import pytest
import torch
from torch import nn

from harness import compute
from harness import nn as enn


@pytest.mark.parametrize("weight_decay", [0.0, 0.01])
def test_fused_ensemble_adam_equals_torch_fused_adam_and_the_foreach_form_to_rounding(weight_decay):
    torch.manual_seed(0)
    init = [torch.randn(3, 4, 5), torch.randn(3, 5)]
    fused = [nn.Parameter(t.clone()) for t in init]
    ours = compute.FusedEnsembleAdam(fused, members=3, lr=1e-2, weight_decay=weight_decay)
    ref = [nn.Parameter(t.clone()) for t in init]
    cls = torch.optim.AdamW if weight_decay else torch.optim.Adam
    theirs = cls(ref, lr=1e-2, weight_decay=weight_decay, fused=True)
    foreach = [nn.Parameter(t.clone()) for t in init]
    plain = enn.EnsembleAdam(foreach, members=3, lr=1e-2, weight_decay=weight_decay)
    for _ in range(25):
        grads = [torch.randn_like(t) for t in init]
        for params in (fused, ref, foreach):
            for p, g in zip(params, grads):
                p.grad = g.clone()
        ours.step()
        theirs.step()
        plain.step()
    for a, b, c in zip(fused, ref, foreach):
        assert torch.equal(a, b)  # the same kernel, bit for bit
        torch.testing.assert_close(a, c, rtol=0, atol=1e-6)


def test_a_frozen_member_is_untouched_by_the_fused_step():
    torch.manual_seed(0)
    p = nn.Parameter(torch.randn(6, 3))  # 3 members x 2 rows
    opt = compute.FusedEnsembleAdam([p], members=3, lr=1e-2)
    p.grad = torch.randn(6, 3)
    opt.step()
    before, moment = p.detach().clone(), opt.state[p]["exp_avg"].clone()
    p.grad = torch.randn(6, 3)
    p.grad[2:4] = float("nan")
    opt.step(frozen=[1])
    assert torch.equal(p.detach()[2:4], before[2:4])
    assert torch.equal(opt.state[p]["exp_avg"][2:4], moment[2:4])
    assert not torch.equal(p.detach()[0:2], before[0:2]) and torch.isfinite(p).all()


def test_bf16_runs_matrix_products_in_bfloat16_and_fp32_changes_nothing():
    x, w = torch.randn(4, 8), torch.randn(8, 3)
    with compute.autocast("bf16", "cpu"):
        assert (x @ w).dtype == torch.bfloat16
    with compute.autocast("fp32", "cpu"):
        assert torch.equal(x @ w, x @ w) and (x @ w).dtype == torch.float32


def test_an_unknown_precision_says_which_are_known():
    with pytest.raises(ValueError, match=r"precision must be one of \('fp32', 'bf16'\), got 'fp16'"):
        compute.autocast("fp16", "cpu")
