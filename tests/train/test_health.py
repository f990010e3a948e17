import json

import torch

from pairless.models.dualgan import DualGANConfig, DualGANModel
from pairless.train.health import (
    COLLAPSED,
    RUNAWAY,
    RUNAWAY_LOG_STEPS,
    RUNAWAY_LOSS,
    RUNAWAY_LOW_STEPS,
    TrainingHealth,
)
from pairless.train.monitor import Monitor


def test_runaway_needs_most_recent_log_steps_low_and_clears_when_d_recovers():
    health = TrainingHealth(("D_A", "D_B"))
    low, high = RUNAWAY_LOSS / 2, 0.2
    pattern = [low] * (RUNAWAY_LOW_STEPS - 1) + [RUNAWAY_LOSS * 1.1]  # one blip just above the threshold
    for step, value in enumerate(pattern):
        health.update_losses(step, {"D_A": value, "D_B": high})
        assert RUNAWAY not in health.warnings
    health.update_losses(len(pattern), {"D_A": low, "D_B": high})  # low in 4 of the last 5 log steps
    assert "D_A" in health.warnings[RUNAWAY] and "D_B" not in health.warnings[RUNAWAY]
    for step in range(RUNAWAY_LOG_STEPS - RUNAWAY_LOW_STEPS + 1):
        health.update_losses(10 + step, {"D_A": high, "D_B": high})
    assert RUNAWAY not in health.warnings


def test_losses_that_are_not_watched_never_warn():
    health = TrainingHealth(())
    for step in range(2 * RUNAWAY_LOG_STEPS):
        health.update_losses(step, {"D": 0.0, "D_A": -3.0})
    assert health.warnings == {}


def test_identical_translations_of_different_inputs_are_flagged_as_collapsed():
    inputs = torch.rand(4, 3, 16, 16) * 2 - 1
    health = TrainingHealth(())
    health.update_samples(500, [{"real_A": inputs, "fake_B": inputs.flip(-1) * 0.9}])
    assert COLLAPSED not in health.warnings
    health.update_samples(1000, [{"real_A": inputs, "fake_B": inputs[:1].expand(4, -1, -1, -1) + 0.01}])
    assert "step 1000" in health.warnings[COLLAPSED]
    health.update_evaluation(1500, {"mode_collapse": 0.0, "diversity": 0.8})
    assert COLLAPSED not in health.warnings
    health.update_evaluation(2000, {"mode_collapse": 1.0, "diversity": 0.1})
    assert "0.10" in health.warnings[COLLAPSED]


def test_monitor_writes_warnings_to_metrics_and_announces_them_once(tmp_path, capsys):
    monitor = Monitor(tmp_path, 0, 100, quiet=True, health=TrainingHealth(("D",)))
    for step in range(1, RUNAWAY_LOG_STEPS + 3):
        monitor.add_losses({"D": torch.tensor(0.001), "G_gan": torch.tensor(1.0)})
        monitor.log(step, 2e-4)
    for step in range(RUNAWAY_LOG_STEPS + 3, RUNAWAY_LOG_STEPS + 5):  # D recovers: the second high step clears
        monitor.add_losses({"D": torch.tensor(0.2), "G_gan": torch.tensor(0.5)})
        monitor.log(step, 2e-4)
    monitor.close()
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    flagged = [r["step"] for r in records if RUNAWAY in r.get("warnings", {})]
    assert flagged == list(range(RUNAWAY_LOW_STEPS, RUNAWAY_LOG_STEPS + 4))
    assert capsys.readouterr().err.count("warning: runaway discriminator") == 1


def test_a_wasserstein_critic_is_not_watched():
    assert DualGANModel(DualGANConfig(width=4, depth=3)).discriminator_losses() == ()


def test_outputs_are_not_judged_collapsed_before_the_run_settles():
    """An untrained generator's translations all look alike: no collapse warning in the first log steps."""
    inputs = torch.rand(4, 3, 16, 16) * 2 - 1
    alike = inputs[:1].expand(4, -1, -1, -1)
    health = TrainingHealth((), settle_steps=150)
    health.update_samples(1, [{"real_A": inputs, "fake_B": alike}])
    health.update_evaluation(100, {"mode_collapse": True, "diversity": 0.0})
    assert COLLAPSED not in health.warnings
    health.update_samples(150, [{"real_A": inputs, "fake_B": alike}])
    assert COLLAPSED in health.warnings
