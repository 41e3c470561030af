"""An endless loop in the forward pass; the rest is right but needs the forward."""

KIND = "degenerate"
DEGENERATE = "endless loop"
SCORE = (0, 0.9)
MISTAKES = ["timeout"]
REPLACE = {
    "batchnorm_forward": [
        ("    mu = x.mean(axis=0)", "    while True:\n        pass\n    mu = x.mean(axis=0)")
    ]
}
