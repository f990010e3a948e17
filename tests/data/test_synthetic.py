import json

import numpy as np
import pytest
from PIL import Image

from pairless.data import synthetic
from pairless.data.synthetic import TASK_DESCRIPTIONS, TASKS, make_synthetic_dataset, render_pair

SIZE = 32
COUNT = 6
FOLDERS = ("trainA", "trainB", "testA", "testB", "testA_gt")


def read(path):
    return np.asarray(Image.open(path))


def pngs(folder):
    return sorted(folder.glob("*.png"))


@pytest.fixture(scope="module", params=TASKS)
def dataset(request, tmp_path_factory):
    task = request.param
    out = make_synthetic_dataset(task, tmp_path_factory.mktemp(task) / "data", count=COUNT, size=SIZE, seed=3)
    return task, out


def test_every_task_has_a_description():
    assert set(TASK_DESCRIPTIONS) == set(TASKS)


def test_layout_counts_and_images(dataset):
    task, out = dataset
    test_count = max(8, COUNT // 10)
    expected = {"trainA": COUNT, "trainB": COUNT, "testA": test_count, "testB": test_count,
                "testA_gt": test_count}
    assert sorted(p.name for p in out.iterdir()) == sorted([*FOLDERS, "synth.json"])
    for folder, n in expected.items():
        files = pngs(out / folder)
        assert [f.name for f in files] == [f"{i:06d}.png" for i in range(n)]
        for f in files:
            with Image.open(f) as image:
                assert image.format == "PNG" and image.mode == "RGB" and image.size == (SIZE, SIZE)
    info = json.loads((out / "synth.json").read_text())
    assert info["task"] == task and info["seed"] == 3 and info["size"] == SIZE
    assert info["count"] == COUNT and info["test_count"] == test_count and "format_version" in info


def test_no_staging_folder_left_behind(dataset):
    _, out = dataset
    assert [p.name for p in out.parent.iterdir()] == [out.name]


def test_same_arguments_give_identical_files(dataset, tmp_path):
    task, out = dataset
    again = make_synthetic_dataset(task, tmp_path / "again", count=COUNT, size=SIZE, seed=3)
    for path in sorted(out.rglob("*")):
        if path.is_file():
            assert path.read_bytes() == (again / path.relative_to(out)).read_bytes(), path


def test_another_seed_gives_other_images(dataset, tmp_path):
    task, out = dataset
    other = make_synthetic_dataset(task, tmp_path / "other", count=COUNT, test_count=2, size=SIZE, seed=4)
    for folder in FOLDERS:
        for path in pngs(other / folder):
            assert not np.array_equal(read(path), read(out / folder / path.name))


def test_render_pair_matches_the_written_files(dataset):
    task, out = dataset
    for index in (0, COUNT - 1):
        name = f"{index:06d}.png"
        assert np.array_equal(read(out / "trainA" / name), render_pair(task, 3, "trainA", index, SIZE)[0])
        assert np.array_equal(read(out / "trainB" / name), render_pair(task, 3, "trainB", index, SIZE)[1])
        a, b = render_pair(task, 3, "test", index, SIZE)
        assert np.array_equal(read(out / "testA" / name), a)
        assert np.array_equal(read(out / "testA_gt" / name), b)
        assert np.array_equal(read(out / "testB" / name), render_pair(task, 3, "testB", index, SIZE)[1])


def test_train_domains_come_from_different_scenes(dataset):
    task, out = dataset
    for index in range(COUNT):
        other_scene_a, _ = render_pair(task, 3, "trainB", index, SIZE)
        assert not np.array_equal(read(out / "trainA" / f"{index:06d}.png"), other_scene_a)


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("size", [16, 48, 64])
def test_render_pair_shapes(task, size):
    a, b = render_pair(task, 0, "trainA", 0, size)
    for image in (a, b):
        assert image.shape == (size, size, 3) and image.dtype == np.uint8


@pytest.mark.parametrize("task", TASKS)
def test_only_the_objects_change(task):
    for index in range(10):
        a, b = render_pair(task, 11, "test", index, SIZE)
        region = synthetic._change_region(task, 11, "test", index, SIZE)
        assert region.any() and region.mean() < 0.6
        assert np.array_equal(a[~region], b[~region])
        changed = np.any(a != b, axis=-1)
        assert changed.sum() >= 4


def changed_pixels(task, index, size=SIZE):
    a, b = render_pair(task, 5, "test", index, size)
    changed = np.any(a != b, axis=-1)
    return a[changed].astype(int), b[changed].astype(int)


def test_stripes_cover_blobs_in_dark_and_light_bands():
    for index in range(8):
        _, b = changed_pixels("stripes", index)
        assert (b.max(axis=1) < 40).sum() >= 3
        assert (b.min(axis=1) > 215).sum() >= 3


def test_ellipse_edge_distance_is_exact():
    """Stripe bands are floor(distance to the outline / band width), so the distance must be right."""
    a, b = 20.0, 9.0
    theta = np.linspace(0, 2 * np.pi, 20000, endpoint=False)
    outline_u, outline_v = a * np.cos(theta), b * np.sin(theta)
    rng = np.random.default_rng(0)
    u, v = rng.uniform(-a, a, 500), rng.uniform(-b, b, 500)
    brute_force = np.sqrt(((u[:, None] - outline_u) ** 2 + (v[:, None] - outline_v) ** 2).min(axis=1))
    distance = synthetic._ellipse_edge_distance(u, v, a, b)
    assert np.allclose(distance, brute_force, atol=0.02)


def solid_patch(image, colour):
    """Centre, bounding-box side and fill ratio of the pixels that have exactly this colour."""
    where = np.argwhere(np.all(image == colour, axis=-1))
    side = where.max(axis=0) - where.min(axis=0) + 1
    return np.median(where, axis=0).astype(int), side, len(where) / side.prod()


def test_shapes_discs_become_squares_of_the_same_colour_centre_and_width():
    checked = 0
    for index in range(8):
        a, b = render_pair("shapes", 5, "test", index, 48)
        changed = np.any(a != b, axis=-1)
        colours, counts = np.unique(b[changed], axis=0, return_counts=True)
        for colour in colours[counts >= 8]:
            (row, col), side_b, fill_b = solid_patch(b, colour)
            if side_b.min() < 3:
                continue  # a run of identical anti-aliased edge pixels, not a square
            _, side_a, fill_a = solid_patch(a, colour)
            assert np.array_equal(a[row, col], colour) and np.array_equal(b[row, col], colour)
            assert fill_b > 0.95 and fill_a < 0.85
            assert np.all(np.abs(side_b - side_a) <= 1) and abs(side_b[0] - side_b[1]) <= 1
            checked += 1
    assert checked >= 8


def hsv(pixels):
    rgb = pixels / 255.0
    high, low = rgb.max(axis=1), rgb.min(axis=1)
    spread = np.maximum(high - low, 1e-9)
    r, g, b = rgb.T
    hue = np.where(high == r, (g - b) / spread % 6,
                   np.where(high == g, (b - r) / spread + 2, (r - g) / spread + 4))
    return hue * 60, (high - low) / np.maximum(high, 1e-9), high


def test_hue_turns_orange_objects_red_and_green_keeping_the_shading():
    reds, greens = [], []
    for index in range(8):
        a, b = changed_pixels("hue", index, size=48)
        hue_a, sat_a, val_a = hsv(a)
        hue_b, sat_b, val_b = hsv(b)
        vivid = (sat_a > 0.3) & (val_a > 0.2)
        assert vivid.mean() > 0.7
        assert np.mean((hue_a[vivid] > 12) & (hue_a[vivid] < 52)) > 0.9
        red = (hue_b[vivid] > 340) | (hue_b[vivid] < 18)
        green = (hue_b[vivid] > 85) & (hue_b[vivid] < 145)
        assert np.mean(red | green) > 0.8
        assert np.mean(np.abs(val_a - val_b) <= 2 / 255) > 0.7
        reds.append(np.mean(red))
        greens.append(np.mean(green))
    assert np.mean(reds) > 0.15 and np.mean(greens) > 0.15


def test_unknown_task_lists_the_valid_ones(tmp_path):
    with pytest.raises(ValueError, match="zebra") as error:
        make_synthetic_dataset("zebra", tmp_path / "out")
    assert all(task in str(error.value) for task in TASKS)
    with pytest.raises(ValueError, match="zebra"):
        render_pair("zebra", 0, "trainA", 0, SIZE)


@pytest.mark.parametrize(
    ("arguments", "name"),
    [({"count": 0}, "count"), ({"size": 15}, "size"), ({"test_count": 0}, "test_count"),
     ({"seed": -1}, "seed")],
)
def test_bad_numbers_are_refused(tmp_path, arguments, name):
    with pytest.raises(ValueError, match=name):
        make_synthetic_dataset("shapes", tmp_path / "out", **arguments)
    assert not (tmp_path / "out").exists()


def test_unknown_split_is_refused():
    with pytest.raises(ValueError, match="validation"):
        render_pair("shapes", 0, "validation", 0, SIZE)


def test_a_non_empty_folder_is_never_overwritten(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match=str(tmp_path)):
        make_synthetic_dataset("shapes", tmp_path, count=2, size=SIZE)
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_an_existing_empty_folder_is_filled(tmp_path):
    out = tmp_path / "empty"
    out.mkdir()
    assert make_synthetic_dataset("hue", str(out), count=2, test_count=1, size=SIZE) == out
    assert len(pngs(out / "trainA")) == 2 and len(pngs(out / "testA_gt")) == 1


def test_progress_reports_every_scene(tmp_path):
    calls = []
    make_synthetic_dataset("stripes", tmp_path / "out", count=3, test_count=2, size=SIZE,
                           progress=lambda done, total: calls.append((done, total)))
    assert calls == [(done, 10) for done in range(1, 11)]


def test_an_interrupted_generation_leaves_nothing_behind(tmp_path):
    def interrupt(done, total):
        if done == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        make_synthetic_dataset("shapes", tmp_path / "out", count=4, size=SIZE, progress=interrupt)
    assert list(tmp_path.iterdir()) == []
