"""alpha starts at 1: the block is not the identity at initialisation."""

REPLACE = {"SkipInitBlock": [("torch.tensor(0.0)", "torch.tensor(1.0)")]}
SCORE = (9, 9)
CELLS = {"skipinit_block_starts_as_identity": (0, 0)}
MISTAKES = ["alpha_init_one"]
KIND = "mistake"
