"""recalibrate puts momentum back to 0.1 (the default), not to what the layer had: right on
the momentum = 0.1 cases only, no named mistake; the feedback names the output as
'momentum (None shown as -1)' (it once said 'expected -1' unexplained)."""

REPLACE = {"recalibrate": [("        bn.momentum = momentum", "        bn.momentum = 0.1")]}
SCORE = (10, 11)
FEEDBACK = ["momentum (None shown as -1) is wrong on"]
KIND = "mistake"
