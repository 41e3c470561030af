"""recalibrate pools all batches into one (its mean and unbiased variance) and leaves
num_batches_tracked at 0: not the cumulative average of batch statistics, no named
mistake; the feedback says running_var is wrong, on which case, by how much."""

ANSWERS = {
    "recalibrate": """def recalibrate(bn, batches):
    allx = np.concatenate([np.asarray(b, dtype=np.float64) for b in batches])
    sizes = None
    bn.running_mean = allx.mean(0)
    bn.running_var = allx.var(0, ddof=1)
    bn.num_batches_tracked = 0
"""
}
SCORE = (10, 10)
CELLS = {"recalibrate_is_a_cumulative_average": (0, 0)}
FEEDBACK = ["running_var is wrong on"]
KIND = "mistake"
