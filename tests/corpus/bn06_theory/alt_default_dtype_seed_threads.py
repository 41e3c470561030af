# ruff: noqa: E501
"""Correct (the solution) with added cells that seed torch's global RNG, set torch's default
dtype to float64 and 3 threads, and print debugging output: full marks. The default dtype
once made the weight-scale check fail on its own inputs (a float32 .grad on a float64
weight)."""

ADDED = [
    (
        "setup",
        "torch.manual_seed(0)\ntorch.set_default_dtype(torch.float64)\ntorch.set_num_threads(3)\nprint('debug: default dtype', torch.get_default_dtype())",
    ),
    (
        "SkipInitBlock",
        "blk = SkipInitBlock(nn.Linear(3, 3))\nprint(blk.alpha, blk(torch.ones(2, 3)))",
    ),
]
SCORE = (11, 11)
KIND = "correct"
