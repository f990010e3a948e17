"""Random decisions read on the host draw exactly what torch's global generator would have given."""

import torch

from pairless.models.randomness import host_randint, host_uniform


def test_host_draws_equal_torchs_draws_from_the_same_state():
    torch.manual_seed(3)
    expected = [(torch.rand(()).item(), torch.randint(7, ()).item()) for _ in range(20)]
    torch.manual_seed(3)
    drawn = [(host_uniform(), host_randint(7)) for _ in range(20)]
    assert drawn == expected
    assert isinstance(drawn[0][0], float) and isinstance(drawn[0][1], int)
    assert len({value for _, value in drawn}) > 1
