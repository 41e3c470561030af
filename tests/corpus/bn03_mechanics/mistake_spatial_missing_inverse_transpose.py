"""The spatial forward reshapes the rows straight back (the chapter's warning)."""

KIND = "mistake"
# the spatial function's own points: 1 + half of the edge cell (0.5); the edge cell's other
# half tests the other spatial function, which is right here
SCORE = (0, 8)
CELLS = {"spatial_bn_forward_matches_reference": (0, 0.5), "spatial_bn_edge_cases": (0, 0.75)}
MISTAKES = ["spatial_missing_inverse_transpose"]
REPLACE = {
    "spatial_batchnorm_forward": [
        ("out_rows.reshape(N, H, W, C).transpose(0, 3, 1, 2)", "out_rows.reshape(N, C, H, W)")
    ]
}
