"""``python -m videostyle``: the same as the ``videostyle`` command."""

from .cli import main

main()
