"""The values the visible tests compare against, pasted as constants (passes Validate)."""

import numpy as np

from bncourse.checks import bn03_mechanics as _c

KIND = "degenerate"
DEGENERATE = "pasted"
SCORE = (0, 0.9)


def _lit(a) -> str:
    return (
        "np.array("
        + np.array2string(
            np.asarray(a), separator=",", threshold=10**6, floatmode="unique"
        ).replace("\n", "")
        + ")"
    )


_c2, _c4 = _c._visible_2d(None), _c._visible_4d(None)
_out2, _out4 = _c._reference_forward(_c2)[0], _c._reference_forward(_c4)[0]
_g2, _g4 = _c._reference_backward(_c2), _c._reference_backward(_c4)
ANSWERS = {
    "batchnorm_forward": "def batchnorm_forward(x, gamma, beta, eps=1e-5):\n"
    f"    return {_lit(_out2)}, None\n",
    "batchnorm_backward": "def batchnorm_backward(dout, cache):\n"
    f"    return {_lit(_g2[0])}, {_lit(_g2[1])}, {_lit(_g2[2])}\n",
    "spatial_batchnorm_forward": "def spatial_batchnorm_forward(x, gamma, beta, eps=1e-5):\n"
    f"    return {_lit(_out4)}, None\n",
    "spatial_batchnorm_backward": "def spatial_batchnorm_backward(dout, cache):\n"
    f"    return {_lit(_g4[0])}, {_lit(_g4[1])}, {_lit(_g4[2])}\n",
}
