"""Objectives: the total is each raw term times its declared weight (1 when undeclared), and the log holds
the raw terms and `total_<net>`."""

import torch

from pairless.losses.total import Objective, logged, mean_objective, total


def test_the_total_weighs_the_raw_terms_and_the_log_keeps_them_raw():
    gan, nce, extra = torch.tensor(0.7), torch.tensor(2.0), torch.tensor(0.25)
    g = Objective("G", {"G_gan": gan, "nce": nce, "fm": extra}, {"nce": 0.5, "fm": 4.0, "unused": 9.0})
    assert torch.equal(g.total, gan + 0.5 * nce + 4.0 * extra)
    d = Objective("D", {"D_A": torch.tensor(1.0), "D_B": torch.tensor(3.0)}, {"D_A": 0.5, "D_B": 0.5})
    assert logged(g, d) == {"G_gan": gan, "nce": nce, "fm": extra, "D_A": torch.tensor(1.0),
                            "D_B": torch.tensor(3.0), "total_G": g.total, "total_D": torch.tensor(2.0)}


def test_the_total_is_built_once_and_adds_in_order():
    terms = {"a": torch.tensor(1e8), "b": torch.tensor(1.0), "c": torch.tensor(-1e8)}
    objective = Objective("G", terms)
    assert objective.total is objective.total
    assert torch.equal(objective.total, total(terms.values())) and float(objective.total) == float(
        (terms["a"] + terms["b"]) + terms["c"])


def test_several_steps_log_their_mean():
    steps = [Objective("D", {"D_adv": torch.tensor(v, requires_grad=True)}, {"D_adv": 2.0}) for v in (1.0, 3.0)]
    mean = mean_objective(steps)
    assert float(mean.terms["D_adv"]) == 2.0 and float(mean.total) == 4.0 and not mean.total.requires_grad
