"""alpha is a vector of shape (1,), not a 0-dim scalar."""

REPLACE = {"SkipInitBlock": [("nn.Parameter(torch.tensor(0.0))", "nn.Parameter(torch.zeros(1))")]}
SCORE = (9, 9)
CELLS = {"skipinit_block_starts_as_identity": (0, 0)}
MISTAKES = ["alpha_vector"]
KIND = "mistake"
