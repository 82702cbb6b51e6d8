"""exp, log, power, sin and cos of float64 arrays with the same bits on every x86 machine.

numpy picks its float64 exp, log, power, sin and cos kernels by the CPU it runs on: on
AVX-512 machines they are SIMD kernels (SVML) whose last bits differ from the C library's,
which numpy uses on AVX2 machines (measured: 4.6% of 5M exp values differ in the last bit).
The demo generator's draws depend on such values: a carry probability a bit above or below
another changes which SKUs an outlet stocks, which gaps are planted, and from there every
later draw of the stream. With numpy's kernels the same seed wrote other demo data on an
AVX-512 machine than on an AVX2 one, and the golden documents of the tests broke with the
machine. These functions call the C library (Python's ``math``) value by value: the bits
numpy gives on AVX2 machines, on any machine; about 70 ns a value.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


def _each(function: Callable[[float], float], values: npt.ArrayLike) -> FloatArray:
    array = np.asarray(values, dtype=np.float64)
    flat = np.fromiter(map(function, array.ravel().tolist()), dtype=np.float64, count=array.size)
    return flat.reshape(array.shape)


def exp(values: npt.ArrayLike) -> FloatArray:
    """e to the power of every value (``math.exp``)."""
    return _each(math.exp, values)


def log(values: npt.ArrayLike) -> FloatArray:
    """The natural log of every (positive) value (``math.log``)."""
    return _each(math.log, values)


def power(values: npt.ArrayLike, exponent: float) -> FloatArray:
    """Every value to the power ``exponent`` (C ``pow``, as ``float ** float``)."""
    return _each(lambda value: value**exponent, values)


def sin(values: npt.ArrayLike) -> FloatArray:
    """The sine of every value, in radians (``math.sin``)."""
    return _each(math.sin, values)


def cos(values: npt.ArrayLike) -> FloatArray:
    """The cosine of every value, in radians (``math.cos``)."""
    return _each(math.cos, values)
