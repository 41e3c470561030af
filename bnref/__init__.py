"""bnref: a reference implementation of Batch Normalization.

Backends
--------
``bnref.numpy``
    NumPy only. The functional forward/backward used by the exercises, and the
    full ``torch.nn.functional.batch_norm`` semantics on arrays.
``bnref.torch``
    PyTorch (a package: functional, modules, sync, fusion): an autograd ``Function``
    with a hand-written backward, ``BatchNorm1d/2d/3d`` modules, inference fusion and
    synchronized BN; usable under ``torch.func``, ``torch.compile`` and ``torch.export``.

``import bnref`` imports neither torch nor the torch backend: a practitioner
who only wants NumPy never pays for torch.

Conventions
-----------
Stated once here; the book's notation page repeats them.

* Statistics are taken over every axis except the channel axis (axis 1,
  or the last axis for channels-last input when asked for explicitly).
* The batch is normalized with the *biased* variance (divide by ``n``);
  ``running_var`` is updated with the *unbiased* variance (divide by
  ``n - 1``), exactly as PyTorch does.
* ``eps`` is added inside the square root: ``x_hat = (x - mu) / sqrt(var + eps)``.
* ``momentum`` follows PyTorch: ``running = (1 - momentum) * running + momentum * batch``
  with ``momentum = 0.1`` by default. Keras' and CS231n's conventions (weight on
  the *old* value, 0.99 and 0.9) are offered only explicitly: ``convert_momentum``, and
  ``update_running_stats(..., convention="keras")`` (which also stores Keras' biased
  variance) in both backends.
* Training mode is always an explicit argument, never guessed from grad mode.
"""

#: The package version (the same as in ``pyproject.toml``).
__version__ = "0.1.0"
__all__ = ["__version__"]
