"""``python -m services.cli``: the ``logos`` command."""

from services.cli import main

main()
