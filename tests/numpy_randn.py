#!/usr/bin/env python3
"""Prints numpy.random.seed(SEED); numpy.random.randn(ROWS, COLS) as %.17g, one value a line.
Used by test_rng to check seqlab's MT19937 + legacy Gaussian bit for bit."""
import sys
import numpy

seed, rows, cols = (int(a) for a in sys.argv[1:4])
numpy.random.seed(seed)
for v in numpy.random.randn(rows, cols).ravel():
    print("%.17g" % v)
