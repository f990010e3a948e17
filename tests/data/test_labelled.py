"""Labelled image sets: IDX files and class folders, the held-out split, determinism, clear errors."""

import gzip
import hashlib

import numpy as np
import pytest
import torch

from pairless.data.config import DataConfig
from pairless.data.labelled import LabelledImages, holdout_split, open_labelled_source, read_idx
from pairless.errors import PairlessError
from pairless.train.loop import train
from tests.conftest import write_images

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def write_idx(path, array: np.ndarray, compress: bool = True) -> None:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    data = header + array.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(data) if compress else data)


def idx_folder(root, count=20, classes=4, compress=True, prefix="t10k"):
    rng = np.random.default_rng(0)
    root.mkdir(parents=True, exist_ok=True)
    images = rng.integers(0, 256, (count, 28, 28), dtype=np.uint8)
    labels = np.arange(count) % classes
    suffix = ".gz" if compress else ""
    write_idx(root / f"{prefix}-images-idx3-ubyte{suffix}", images, compress)
    write_idx(root / f"{prefix}-labels-idx1-ubyte{suffix}", labels, compress)
    return images, labels


def class_folders(root, counts=(3, 4, 2), mode="RGB"):
    for i, count in enumerate(counts):
        write_images(root / f"class_{'cab'[i]}", count, size=(20, 24), mode=mode, seed=i)
    return root


@pytest.mark.parametrize("compress", [True, False])
def test_idx_files_load_with_labels_and_one_channel(tmp_path, compress):
    images, labels = idx_folder(tmp_path / "d", compress=compress)
    ds = LabelledImages(DataConfig(root=str(tmp_path / "d"), size=28, flip=False))
    assert (len(ds), ds.num_classes, ds.channels) == (20, 4, 1)
    assert np.array_equal(ds.source.labels, labels)
    expected = torch.from_numpy(images[7].astype(np.float32) / 255)[None] * 2 - 1
    assert torch.allclose(ds.transform(7), expected, atol=1e-6)


def test_idx_prefers_the_train_pair_and_resizes(tmp_path):
    idx_folder(tmp_path, count=8, prefix="t10k")
    idx_folder(tmp_path, count=12, prefix="train")
    ds = LabelledImages(DataConfig(root=str(tmp_path), size=32))
    assert len(ds) == 12 and ds[0]["image"].shape == (1, 32, 32)


@pytest.mark.parametrize("damage, message", [
    (lambda d: d[:1] + b"\x01" + d[2:], "bad magic"),
    (lambda d: d[:2] + b"\x0d" + d[3:], "only unsigned bytes"),
    (lambda d: d[:-5], "truncated"),
])
def test_broken_idx_files_name_the_file(tmp_path, damage, message):
    path = tmp_path / "x-images-idx3-ubyte"
    write_idx(path, np.zeros((2, 3, 3)), compress=False)
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(PairlessError, match=message) as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_idx_label_count_mismatch_and_missing_labels(tmp_path):
    write_idx(tmp_path / "a-images-idx3-ubyte", np.zeros((5, 4, 4)), compress=False)
    with pytest.raises(PairlessError, match="no labels file: expected a-labels-idx1-ubyte"):
        open_labelled_source(tmp_path)
    write_idx(tmp_path / "a-labels-idx1-ubyte", np.zeros(4), compress=False)
    with pytest.raises(PairlessError, match="labels for the 5 images"):
        open_labelled_source(tmp_path)


def test_class_folders_are_classes_in_sorted_order(tmp_path):
    root = class_folders(tmp_path / "d")
    write_images(root / "class_a" / "nested", 1, size=(20, 24), seed=9)
    source = open_labelled_source(root, channels=1)
    assert source.class_names == ["class_a", "class_b", "class_c"]
    assert np.bincount(source.labels).tolist() == [4 + 1, 2, 3]  # 'a' holds 4 + 1 nested, 'b' 2, 'c' 3
    assert source.load(0).shape == (1, 24, 20)


@pytest.mark.parametrize("make, message", [
    (lambda r: None, "data folder not found"),
    (lambda r: write_images(r, 2), "no class folders and no IDX files \\(it holds images directly"),
    (lambda r: write_images(r / "only", 2), "one class folder \\(only\\)"),
    (lambda r: (write_images(r / "a", 2), (r / "b").mkdir()), "class folder .*b holds no readable images"),
])
def test_bad_folders_get_clear_errors(tmp_path, make, message):
    root = tmp_path / "d"
    make(root)
    with pytest.raises(PairlessError, match=message):
        LabelledImages(DataConfig(root=str(root)))


def test_unreadable_image_is_named_or_skipped(tmp_path):
    root = class_folders(tmp_path / "d")
    bad = root / "class_b" / "broken.png"
    bad.write_bytes(b"not a png")
    with pytest.raises(PairlessError, match="broken.png.*--skip-bad-images"):
        LabelledImages(DataConfig(root=str(root)))
    with pytest.warns(UserWarning, match="broken.png"):
        ds = LabelledImages(DataConfig(root=str(root), skip_bad_images=True))
    assert len(ds) == 9


def test_holdout_is_stratified_disjoint_and_seeded():
    labels = np.repeat(np.arange(3), [10, 20, 30])
    train_idx, held = holdout_split(labels, 0.1)
    assert np.bincount(labels[held]).tolist() == [1, 2, 3]
    assert set(train_idx).isdisjoint(held) and len(train_idx) + len(held) == 60
    assert np.array_equal(holdout_split(labels, 0.1)[1], held)
    assert len(holdout_split(labels, 0.0)[1]) == 0
    assert np.bincount(labels[holdout_split(labels, 0.01)[1]]).tolist() == [1, 1, 1]  # at least one per class
    with pytest.raises(PairlessError, match="class 2 has 1 image\\(s\\): --holdout 0.01 leaves none to train on"):
        holdout_split(np.array([0, 0, 1, 1, 2]), 0.01)


def test_an_epoch_visits_each_training_image_once_and_never_a_held_out_one(tmp_path):
    idx_folder(tmp_path, count=40, classes=4)
    ds = LabelledImages(DataConfig(root=str(tmp_path), size=28, flip=False), seed=3, holdout=0.3)
    assert len(ds) == 28 and len(ds.heldout_indices) == 12
    images = torch.stack([ds.transform(int(i)) for i in ds.train_indices])
    seen = torch.stack([ds[i]["image"] for i in range(28)])
    matches = (seen[:, None] == images[None]).flatten(2).all(2)
    assert matches.sum(1).eq(1).all() and matches.sum(0).eq(1).all()
    again = LabelledImages(DataConfig(root=str(tmp_path), size=28, flip=False), seed=3, holdout=0.3)
    assert torch.equal(again[37]["image"], ds[37]["image"]) and int(again[37]["label"]) == int(ds[37]["label"])


def test_fixed_batch_has_one_real_image_per_class_and_both_probes(tmp_path):
    idx_folder(tmp_path, count=40, classes=4)
    batch = LabelledImages(DataConfig(root=str(tmp_path), size=32), holdout=0.25).fixed_batch(classes=3, probe=6)
    assert batch["label"].tolist() == [0, 1, 2] and batch["real"].shape == (3, 1, 32, 32)
    assert batch["probe_train"].shape == (6, 1, 32, 32) and batch["probe_heldout"].shape == (6, 1, 32, 32)
    assert len(batch["probe_train_label"]) == 6


@pytest.mark.realdata
def test_mnist_test_set_loads_and_trains_contragan_a_few_steps(shared_data, tmp_path):
    root = shared_data / "mnist_test"
    expected = dict(line.split()[::-1] for line in (root / "FILES.sha256").read_text().splitlines())
    for name, digest in expected.items():
        assert hashlib.sha256((root / name.lstrip("*")).read_bytes()).hexdigest() == digest
    ds = LabelledImages(DataConfig(root=str(root), size=32), holdout=0.05)
    assert len(ds) + len(ds.heldout_indices) == 10_000 and ds.num_classes == 10 and ds.channels == 1
    assert np.bincount(ds.source.labels).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    from pairless.config import RunConfig

    cfg = RunConfig.defaults("contragan").override({
        "data.root": str(root), "data.workers": 0, "model.backbone": "dcgan", "model.width": 4,
        "model.embed_dim": 16, "train.steps": 2, "train.batch_size": 8, "train.log_every": 1,
        "train.device": "cpu"})
    result = train(cfg, tmp_path / "run", quiet=True)
    assert result.step == 2 and all(np.isfinite(v) for v in result.losses.values())


def test_the_unpaired_layout_is_not_taken_for_classes(unpaired_dir):
    with pytest.raises(PairlessError, match="has the unpaired layout \\(trainA/, trainB/\\)"):
        open_labelled_source(unpaired_dir)
