"""`python -m paperchat` is the `paperchat` command."""

from paperchat.ui.cli import main

main()
