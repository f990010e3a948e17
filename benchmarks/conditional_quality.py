"""Class-conditional quality of trained acgan / projgan / contragan runs, measured with a classifier that is
trained here on the real images (no downloads; pairless.eval.conditional):

    python benchmarks/conditional_quality.py RUN [RUN ...] [--per-class 500] [--out table.md]

The real images are the runs' own data set (their config's --data, or --data here) split as they were
trained: the classifier learns the training split, its accuracy on the held-out split is the ceiling for
the class accuracy, and the classifier FID compares generated images with the training split. All runs are
scored with one classifier, so they must share the data, image size and held-out fraction.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from pairless.checkpoint import read_weights
from pairless.data.labelled import LabelledImages
from pairless.devices import resolve_device
from pairless.errors import PairlessError
from pairless.eval.conditional import generate_per_class, predict, score_images, train_classifier
from pairless.generate import load_generator


def real_split(data_cfg, holdout: float, device) -> tuple[dict[str, torch.Tensor], int]:
    dataset = LabelledImages(data_cfg, holdout=holdout)
    labels = torch.as_tensor(dataset.source.labels)
    split = {}
    for name, indices in (("train", dataset.train_indices), ("heldout", dataset.heldout_indices)):
        split[name] = torch.stack([dataset.transform(int(i)) for i in indices]).to(device)
        split[f"{name}_label"] = labels[indices].to(device)
    return split, dataset.num_classes


def shared_setting(configs: list) -> tuple:
    settings = {(c.data.root, c.data.size, c.data.channels_a, c.model.holdout) for c in configs}
    if len(settings) != 1:
        raise PairlessError(f"the runs were trained on different data settings {sorted(settings)}; "
                            f"score them separately")
    return settings.pop()


def markdown_table(rows: list[dict]) -> str:
    lines = ["| model | run | step | class accuracy | worst class | classifier FID |", "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['model']} | {r['run']} | {r['step']} | {r['accuracy']:.3f} | {r['worst']:.3f} | "
                     f"{r['fid']:.2f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="run folders or checkpoints")
    parser.add_argument("--data", type=Path, help="the real data (default: the runs' --data)")
    parser.add_argument("--per-class", type=int, default=500, help="generated images per class")
    parser.add_argument("--classifier-steps", type=int, default=600)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--out", type=Path, help="also write the table (markdown) here")
    args = parser.parse_args(argv)
    device = resolve_device(args.device)
    configs = [read_weights(run)[1] for run in args.runs]
    holdout = shared_setting(configs)[-1]
    data_cfg = configs[0].data
    if args.data is not None:
        data_cfg.root = str(args.data)
    real, num_classes = real_split(data_cfg, holdout, device)
    classifier = train_classifier(real["train"], real["train_label"], num_classes, args.classifier_steps,
                                  seed=args.seed)
    _, reference = predict(classifier, real["train"])
    rows = []
    if len(real["heldout"]):
        scores = score_images(classifier, real["heldout"], real["heldout_label"], reference, num_classes)
        rows.append({"model": "real held-out images", "run": "-", "step": "-", "accuracy": scores.accuracy,
                     "worst": scores.worst_class, "fid": scores.classifier_fid})
    for run, cfg in zip(args.runs, configs, strict=True):
        model, step = load_generator(run, str(device))
        images, labels = generate_per_class(model, args.per_class, seed=args.seed)
        scores = score_images(classifier, images, labels, reference, num_classes)
        rows.append({"model": cfg.method, "run": run.name, "step": step, "accuracy": scores.accuracy,
                     "worst": scores.worst_class, "fid": scores.classifier_fid})
    table = markdown_table(rows)
    print(table, end="")
    if args.out:
        args.out.write_text(table)
    return table


if __name__ == "__main__":
    main()
