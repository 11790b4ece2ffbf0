"""A one-shot command hands freed memory back: Arrow reads through the system allocator afterwards."""

from __future__ import annotations

import subprocess
import sys


def test_return_freed_memory_when_called_then_arrow_uses_the_system_pool() -> None:
    code = (
        "import pyarrow\nfrom services.cli.process_memory import return_freed_memory\n"
        "return_freed_memory()\nprint(pyarrow.default_memory_pool().backend_name)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert result.stdout.strip() == "system"
