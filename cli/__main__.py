"""`python -m uarcodec_cli` runs `uar`."""

from uarcodec_cli.main import main

main()
