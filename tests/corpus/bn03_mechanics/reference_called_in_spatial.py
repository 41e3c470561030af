"""Parts A and B are the learner's own; part C calls bnref's spatial functions: part C's
tests score 0 and the feedback quotes the line; A and B keep their points."""

KIND = "reference"
SCORE = (6, 6)
STATUS = "partly graded"
CELLS = {
    "bn_forward_matches_reference": (2, 2),
    "bn_backward_edge_cases": (1, 1),
    "spatial_bn_forward_matches_reference": (0, 0),
    "spatial_bn_backward_matches_reference": (0, 0),
    "spatial_bn_edge_cases": (0, 0),
}
FEEDBACK = ["`return bn.spatial_batchnorm_forward(x, gamma, beta, eps)`"]
ANSWERS = {
    "spatial_batchnorm_forward": (
        "import bnref.numpy as bn\n\n\n"
        "def spatial_batchnorm_forward(x, gamma, beta, eps=1e-5):\n"
        "    return bn.spatial_batchnorm_forward(x, gamma, beta, eps)\n"
    ),
    "spatial_batchnorm_backward": (
        "def spatial_batchnorm_backward(dout, cache):\n"
        "    return bn.spatial_batchnorm_backward(dout, cache)\n"
    ),
}
