# Print 1 GiB, 16 MiB at a time: the grader keeps 200 kB of a cell's output and stops the
# cell after 10 MB. (No ATTACK line: it would be cut with the rest; the test measures the
# output the notebook kept instead.)
chunk = "x" * 2**24
for _ in range(64):
    print(chunk, end="", flush=True)


def batch_mean(x):
    return x.mean(axis=0)
