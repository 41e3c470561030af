"""Correct: the unknown placement raises a subclass of ValueError (PlacementError) whose
message names the three values; conv padding as a tuple, kernel_size as a tuple.
Regression (review 2026-12-04): the reject test looked for "ValueError" in the text and gave
the subclass 0."""

KIND = "correct"
SCORE = (10, 10)
ABSENT = ["calls_reference", "unknown"]
ANSWERS = {
    "make_mlp": """class PlacementError(ValueError):
    pass


PLACES = ("none", "before", "after")


def make_mlp(sizes, placement, activation=nn.ReLU):
    if placement not in PLACES:
        raise PlacementError(f"placement {placement!r} is not one of {PLACES}")
    seq = nn.Sequential()
    for k in range(len(sizes) - 2):
        a, b = sizes[k], sizes[k + 1]
        seq.add_module(f"linear_{k}", nn.Linear(a, b, bias=placement != "before"))
        if placement == "before":
            seq.add_module(f"norm_{k}", nn.BatchNorm1d(b))
        seq.add_module(f"act_{k}", activation())
        if placement == "after":
            seq.add_module(f"norm_{k}", nn.BatchNorm1d(b))
    seq.add_module("logits", nn.Linear(sizes[-2], sizes[-1]))
    return seq
""",
    "make_conv_block": """def make_conv_block(c_in, c_out, placement, kernel_size=3):
    p = kernel_size // 2
    conv = nn.Conv2d(c_in, c_out, (kernel_size, kernel_size), stride=1, padding=(p, p),
                     bias=placement != "before")
    order = {"none": [nn.ReLU()], "before": [nn.BatchNorm2d(c_out), nn.ReLU()],
             "after": [nn.ReLU(inplace=True), nn.BatchNorm2d(c_out)]}[placement]
    return nn.Sequential(conv, *order)
""",
}
