"""num_batches_tracked is never incremented (the cumulative average counts from a local
+1): named."""

KIND = "mistake"

REPLACE = {
    "batchnorm_class": [
        ("            self.num_batches_tracked += 1\n", ""),
        ("m = 1.0 / self.num_batches_tracked", "m = 1.0 / (self.num_batches_tracked + 1)"),
    ]
}

SCORE = (8, 10.5)
CELLS = {"batchnorm_training_updates_running_stats": (0, 1.5)}
MISTAKES = ["no_count"]
ABSENT = ["calls_reference"]
