"""With BN, every hidden Linear loses its bias (also before the ReLU when BN comes after);
the output layer keeps it. The named mistake (bias removed where no BN follows) in the form
the notebook's own words invite. Regression (review 2026-12-04): only the form that also
strips the output bias was named."""

KIND = "mistake"
SCORE = (7, 8.5)
CELLS = {"make_mlp_layers": (0, 1.5)}
MISTAKES = ["bias_removed_after"]
ABSENT = ["bias_removed_without_bn"]
REPLACE = {"make_mlp": [('bias=placement != "before"', 'bias=placement == "none"')]}
