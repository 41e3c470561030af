# Write files outside the kernel's own folder: into the course tree, the repository, /tmp.
import json

got = []
for path in (
    "__ROOT__/hacked_by_learner.txt",
    "__ROOT__/submitted/honest_a/tiny/hacked_by_learner.txt",
    "__REPO__/bncourse/hacked_by_learner.py",
    "/tmp/hacked_by_learner.txt",
):
    try:
        with open(path, "w") as fh:
            fh.write("hacked\n")
        got.append(path)
    except OSError:
        pass
outside = [g for g in got if not g.startswith("/tmp/")]  # its own /tmp is allowed
print("ATTACK", json.dumps({"attack": "write_outside", "got": outside, "all": got}))


def batch_mean(x):
    return x.mean(axis=0)
