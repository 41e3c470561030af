"""make_mlp always uses nn.ReLU() and ignores `activation`: wrong on the Tanh AND the GELU
cases. Not a named mistake (no mutant): the hint says where. Regression (review 2026-12-04):
the hint was tagged on the Tanh cases only, so with GELU failing too it was never given."""

KIND = "mistake"
SCORE = (8.2, 8.2)
CELLS = {"make_mlp_layers": (0, 1.5)}
FEEDBACK = ["create the layers with the activation you are given"]
REPLACE = {
    "make_mlp": [("activation()]", "nn.ReLU()]"), ("append(activation())", "append(nn.ReLU())")]
}
