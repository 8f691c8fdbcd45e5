"""``python -m nlrl`` is the ``nlrl`` command."""

from .cli import main

main()
