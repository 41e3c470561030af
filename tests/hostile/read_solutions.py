# Find the instructor's course tree and read the solutions: by absolute path, from numpy's
# location (the venv sits in the repository), up from the cwd, and through /proc/<pid>/cwd|root.
import glob
import json
import os

import numpy as np

found, tried = [], []
candidates = [
    "__ROOT__/solutions/tiny/tiny.ipynb",
    *glob.glob("__REPO__/solutions/*/*.ipynb"),
    os.path.join(os.path.dirname(np.__file__), *[".."] * 5, "solutions"),
]
for up in range(1, 8):
    candidates.append(os.path.join(*[".."] * up, "solutions"))
for pid in os.listdir("/proc"):
    if pid.isdigit():
        for link in ("cwd", "root"):
            candidates.append(f"/proc/{pid}/{link}/__ROOT__/solutions")
            candidates.append(f"/proc/{pid}/{link}/__REPO__/solutions")
for path in candidates:
    tried.append(path)
    try:
        if os.path.isdir(path):
            found.append([path, os.listdir(path)])
        else:
            with open(path) as fh:
                found.append([path, fh.read(200)])
    except OSError:
        pass
print("ATTACK", json.dumps({"attack": "read_solutions", "tried": len(tried), "got": found}))


def batch_mean(x):
    return x.mean(axis=0)
