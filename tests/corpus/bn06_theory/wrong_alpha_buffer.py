"""alpha is a buffer, not a parameter: right values, no gradient, not trained."""

REPLACE = {
    "SkipInitBlock": [
        (
            "self.alpha = nn.Parameter(torch.tensor(0.0))",
            'self.register_buffer("alpha", torch.tensor(0.0))',
        )
    ]
}
SCORE = (9, 9)
CELLS = {"skipinit_block_starts_as_identity": (0, 0)}
MISTAKES = ["alpha_not_parameter"]
KIND = "mistake"
