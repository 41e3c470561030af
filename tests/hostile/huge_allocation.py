# Allocate 50 GB and touch it.
import json

import numpy as np

try:
    big = np.ones(50 * 2**30 // 8)
    print("ATTACK", json.dumps({"attack": "huge_allocation", "got": [float(big.sum())]}))
except MemoryError:
    print("ATTACK", json.dumps({"attack": "huge_allocation", "got": []}))
    raise


def batch_mean(x):
    return x.mean(axis=0)
