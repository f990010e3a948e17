"""Class-conditional scores: the classifier, per-class accuracy, classifier FID, and the comparison script."""

import importlib.util
import math

import pytest
import torch

from pairless.eval.conditional import (generate_per_class, per_class_accuracy, predict, score_images,
                                       train_classifier)
from pairless.train.loop import train
from tests.conftest import PROJECT_ROOT, write_images
from tests.models.test_conditional import tiny_conditional

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def bars(count: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Class c = a bright horizontal bar in the c-th quarter of a noisy 32 px image."""
    generator = torch.Generator().manual_seed(seed)
    labels = torch.arange(count) % 4
    images = torch.rand(count, 1, 32, 32, generator=generator) * 0.4 - 1
    for i, c in enumerate(labels.tolist()):
        images[i, :, 8 * c:8 * c + 8] = 1
    return images, labels


def test_per_class_accuracy_counts_within_each_class():
    predicted, labels = torch.tensor([0, 1, 1, 2, 0, 2]), torch.tensor([0, 0, 1, 2, 2, 2])
    assert per_class_accuracy(predicted, labels, 4)[:3] == pytest.approx([0.5, 1.0, 2 / 3])
    assert math.isnan(per_class_accuracy(predicted, labels, 4)[3])


def test_classifier_learns_the_classes_and_scores_real_against_generated():
    images, labels = bars(64)
    classifier = train_classifier(images, labels, 4, steps=25, batch_size=16)
    held_images, held_labels = bars(40, seed=1)
    _, reference = predict(classifier, images)
    real = score_images(classifier, held_images, held_labels, reference, 4)
    assert real.accuracy == 1.0 and real.worst_class == 1.0
    wrong = score_images(classifier, held_images, (held_labels + 1) % 4, reference, 4)
    assert wrong.accuracy == 0.0
    noise = score_images(classifier, torch.rand(40, 1, 32, 32) * 2 - 1, held_labels, reference, 4)
    assert noise.classifier_fid > 10 * real.classifier_fid
    again = train_classifier(images, labels, 4, steps=25, batch_size=16)
    assert all(torch.equal(a, b) for a, b in zip(classifier.state_dict().values(), again.state_dict().values()))


def test_generation_per_class_and_the_comparison_script(tmp_path, capsys):
    root = tmp_path / "data"
    for i in range(3):
        write_images(root / f"c{i}", 4, size=(20, 24), seed=i)
    cfg = tiny_conditional("projgan", root, **{"train.steps": 1})
    train(cfg, tmp_path / "run", quiet=True)
    from pairless.train.checkpoint import load_model

    model, _, _ = load_model(tmp_path / "run")
    images, labels = generate_per_class(model, 5, batch_size=4)
    assert images.shape == (15, 3, 32, 32) and labels.tolist() == [0] * 5 + [1] * 5 + [2] * 5

    spec = importlib.util.spec_from_file_location("conditional_quality",
                                                  PROJECT_ROOT / "benchmarks" / "conditional_quality.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    table = script.main([str(tmp_path / "run"), "--per-class", "4", "--classifier-steps", "3", "--device", "cpu",
                         "--out", str(tmp_path / "table.md")])
    lines = table.splitlines()
    assert lines[2].startswith("| real held-out images |") and lines[3].startswith("| projgan | run | 1 |")
    assert (tmp_path / "table.md").read_text() == table
