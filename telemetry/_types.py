"""NumPy array type aliases shared by the stages and the simulators (for annotations; one definition each).

A module that needs an alias used nowhere else keeps it local.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["F64", "I8", "I64", "Bools", "Objs"]

I8 = npt.NDArray[np.int8]
I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]
Objs = npt.NDArray[np.object_]
