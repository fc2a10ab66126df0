"""Stand-ins that tests share."""

import torch


class FakeDetector(torch.nn.Module):
    """A Mask R-CNN look-alike in eval mode: two detections per image (scores 0.9 and 0.3, labels 1 and 2) with
    soft masks of 0.7, enough to exercise every control of the detection explorers."""

    def __init__(self):
        super().__init__()
        self.p = torch.nn.Parameter(torch.zeros(1))

    def forward(self, images):
        return [{"boxes": torch.tensor([[10.0, 10.0, 40.0, 40.0], [50.0, 50.0, 60.0, 70.0]]),
                 "labels": torch.tensor([1, 2]), "scores": torch.tensor([0.9, 0.3]),
                 "masks": torch.ones(2, 1, *im.shape[-2:]) * 0.7} for im in images]


def assert_results_cover_grid(results: dict, key, cells, min_seeds: int = 5) -> None:
    """A results file (``seglab.results.read_results``) holds one row per seed and cell of the grid, and no other:
    ``key(row)`` is ``(seed, *cell)``, ``cells`` the grid's cells, ``results["params"]["seeds"]`` the seeds (at
    least ``min_seeds``, as the issues ask of a result reported over seeds)."""
    seeds = results["params"]["seeds"]
    assert len(seeds) >= min_seeds, seeds
    keys = [key(row) for row in results["rows"]]
    assert len(keys) == len(set(keys)) == len(seeds) * len(cells)
    assert set(keys) == {(seed, *cell) for seed in seeds for cell in cells}
