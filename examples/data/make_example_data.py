"""Makes the built-in example data of the README (run from the repository root):
    python3 examples/data/make_example_data.py

source.npy: 500 points from N(0, I_2); target.npy: 600 points from a mixture of 8
Gaussians (std 0.5) on a circle of radius 5, the toy task of the GENOT paper and our
benchmarks. float32, seed 0.
"""
import os

import numpy as np

rng = np.random.default_rng(0)
here = os.path.dirname(os.path.abspath(__file__))
source = rng.normal(size=(500, 2)).astype(np.float32)
angles = 2 * np.pi * rng.integers(0, 8, size=600) / 8
centres = 5.0 * np.stack([np.cos(angles), np.sin(angles)], axis=1)
target = (centres + 0.5 * rng.normal(size=(600, 2))).astype(np.float32)
np.save(os.path.join(here, "source.npy"), source)
np.save(os.path.join(here, "target.npy"), target)
print("wrote", source.shape, target.shape)
