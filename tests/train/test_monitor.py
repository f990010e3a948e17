import torch

from pairless.train.monitor import MIN_TILE, sample_grid


def test_grid_places_columns_side_by_side_and_enlarges_small_images():
    a = torch.full((2, 3, 32, 32), -1.0)
    b = torch.full((2, 1, 32, 32), 1.0)
    grid = sample_grid([{"x": a, "y": b}, {"z": a}])
    scale = MIN_TILE // 32
    tile = 32 * scale
    assert grid.shape == (3, 4 * (tile + 2) + 2, 2 * (tile + 2) + 2)
    assert grid[:, 2 + tile // 2, 2 + tile // 2].tolist() == [0, 0, 0]  # -1 -> black
    assert grid[:, 2 + tile // 2, 4 + tile + tile // 2].tolist() == [1, 1, 1]  # gray column -> RGB white
    assert grid[:, 3 * (tile + 2) + tile // 2, 4 + tile + tile // 2].tolist() == [0, 0, 0]  # padded empty cell
