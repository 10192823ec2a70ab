"""`python -m panelauth`."""

from panelauth.cli.main import main

main()
