"""Correct, other style: Phi from scipy in float64, converted back to gamma's dtype; sign trick."""

KIND = "correct"

ANSWERS = {
    "relu_active_fraction": """def relu_active_fraction(gamma, beta):
    import numpy as np
    from scipy.stats import norm
    g = gamma.detach().cpu().numpy().astype(np.float64)
    b = beta.detach().cpu().numpy().astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        frac = norm.cdf(np.sign(g) * b / np.where(g == 0, 1.0, g))
    frac = np.where(g == 0, (b > 0).astype(np.float64), frac)
    return torch.from_numpy(frac).to(gamma.dtype)
""",
    "make_conv_block": """def make_conv_block(c_in, c_out, placement, kernel_size=3):
    pad = (kernel_size - 1) // 2
    blocks = {
        "before": lambda: [nn.Conv2d(c_in, c_out, kernel_size, 1, pad, bias=False),
                           nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)],
        "after": lambda: [nn.Conv2d(c_in, c_out, kernel_size, 1, pad), nn.ReLU(inplace=True),
                          nn.BatchNorm2d(c_out)],
        "none": lambda: [nn.Conv2d(c_in, c_out, kernel_size, 1, pad), nn.ReLU()],
    }
    return nn.Sequential(*blocks[placement]())
""",
}

SCORE = (10, 10)
ABSENT = ["calls_reference", "unknown"]
