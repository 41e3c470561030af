"""Hidden cases of ``bn02_covariate_shift`` (see ``bncourse/checks/bn02_covariate_shift.py``).

Scored in place of the visible cases when the notebook is graded: other widths, depths,
layers (Linear, BN, activation), modes, percentiles, dtypes, learning rates, losses,
noise strengths and batch sizes.
"""

PERCENTILES = [
    dict(label="eval mode, input of the second Linear",
         spec=dict(seed=120, widths=[7, 9, 5, 3], n=30, layer=3, mode="eval")),
    dict(label="training mode, input of the first BN, q=(5, 25, 50, 75, 95)",
         spec=dict(seed=121, widths=[4, 6, 6, 2], n=25, layer=1), q=(5, 25, 50, 75, 95)),
    dict(label="float32, training mode, input of a Tanh, q=(10, 90)",
         spec=dict(seed=122, widths=[5, 7, 7, 3], n=33, layer=5, act="tanh", dtype="float32"),
         q=(10, 90)),
    dict(label="no BN, eval mode, input of the last Linear, q=(50,)",
         spec=dict(seed=123, widths=[6, 5, 4], n=21, layer=2, bn=False, mode="eval"), q=(50,)),
    dict(label="eval mode, float32, input of the third Linear",
         spec=dict(seed=124, widths=[3, 8, 8, 8, 2], n=19, layer=6, mode="eval",
                   dtype="float32")),
    dict(label="training mode, input of the second BN, q=(0, 100)",
         spec=dict(seed=125, widths=[6, 4, 5, 3], n=12, layer=4), q=(0, 100)),
]  # fmt: skip

RAISES = [
    dict(label="eval mode, the last module raises",
         spec=dict(seed=126, widths=[4, 5, 5, 2], n=10, layer=4, mode="eval")),
    dict(label="training mode, deeper net, the last module raises",
         spec=dict(seed=127, widths=[4, 5, 5, 5, 2], n=10, layer=5)),
]  # fmt: skip

ICS = [
    dict(label="three tensors, nearly equal", shapes=[(3, 5), (5,), (2, 2, 2)], seed=131,
         noise=0.05),
    dict(label="one (10, 4) tensor, very different", shapes=[(10, 4)], seed=132, noise=3.0),
    dict(label="float32, opposite direction", shapes=[(6, 6)], seed=133, noise=0.3, scale=-1.0,
         dtype="float32"),
    dict(label="a scaled copy (cosine near 1, l2 large)", shapes=[(4, 4), (4,)], seed=134,
         noise=0.01, scale=3.0),
]  # fmt: skip

SHIFT = [
    dict(label="no BN, the second Linear, lr 0.3",
         spec=dict(seed=140, widths=[8, 10, 10, 3], n=24, layer=2, bn=False), lr=0.3),
    dict(label="BN, eval mode, the second Linear, lr 1.0",
         spec=dict(seed=141, widths=[6, 9, 9, 4], n=20, layer=3, mode="eval"), lr=1.0),
    dict(label="BN, Tanh, the fourth Linear, lr 0.2, MSE loss",
         spec=dict(seed=142, widths=[5, 7, 7, 7, 3], n=30, layer=9, act="tanh"), lr=0.2,
         loss="mse"),
    dict(label="BN, the last Linear, lr 2.0, no .grad set",
         spec=dict(seed=143, widths=[7, 6, 6, 5], n=16, layer=6, grads=False), lr=2.0),
]  # fmt: skip

NOISY = [
    dict(label="C=3, noise=1.0, N=16", C=3, noise=1.0, N=16, seed=150),
    dict(label="C=12, noise=0.2, N=64", C=12, noise=0.2, N=64, seed=151),
    dict(label="C=7, noise=2.0, N=9", C=7, noise=2.0, N=9, seed=152),
]
