# Write 20 GB into the working directory, 128 MiB per file.
import json

chunk = b"\0" * 2**27
written = 0
try:
    for k in range(160):
        with open(f"fill-{k}.bin", "wb") as fh:
            fh.write(chunk)
        written += len(chunk)
finally:
    got = written if written >= 20 * 2**30 else []
    print("ATTACK", json.dumps({"attack": "disk_fill", "got": got, "written": written}))


def batch_mean(x):
    return x.mean(axis=0)
