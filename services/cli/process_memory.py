"""Let a one-shot command hand freed memory back to the system, so its peak is what it holds, not what it held.

A backtest on a million bars makes dozens of short-lived 8 MB arrays. glibc serves the first from
their own mappings and returns them on free, but each free raises its threshold for that, so later
ones come from the heap and stay resident; Arrow's default pool keeps the buffers a Parquet read
used. Both add about a quarter to the peak. A fixed threshold and Arrow's system pool return them.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

log = logging.getLogger("logos.cli")

M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter (malloc.h)
MMAP_THRESHOLD_BYTES = 128 * 1024  # glibc's own starting value, kept fixed


def return_freed_memory() -> None:
    """Map large blocks on their own (glibc) and read Arrow data with the system allocator; harmless elsewhere."""
    try:
        import pyarrow

        pyarrow.set_memory_pool(pyarrow.system_memory_pool())
    except ImportError:  # no pyarrow: nothing reads Parquet through it
        pass
    library = ctypes.util.find_library("c")
    if library is None:
        return
    try:
        mallopt = ctypes.CDLL(library).mallopt
    except (OSError, AttributeError):  # not glibc (macOS, musl): its allocator decides
        return
    if not mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES):
        log.debug("mallopt(M_MMAP_THRESHOLD) refused; freed memory may stay resident")
