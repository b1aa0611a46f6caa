"""The BPTT engine: a reference scan (autograd, ground truth) and a fast scan (hand-derived backward)."""

from rnnkit.engine.fast import fast_scan
from rnnkit.engine.masks import NO_MASKS, ScanMasks
from rnnkit.engine.reference import reference_scan

ENGINES = {"fast": fast_scan, "reference": reference_scan}

__all__ = ["ENGINES", "NO_MASKS", "ScanMasks", "fast_scan", "reference_scan"]
