"""`uar`: the command-line front end. Options, progress, messages and exit codes only; every
codec operation is a call into :mod:`uarcodec.api`.

This module assembles the group (:mod:`uarcodec_cli.app`) and the subcommands (one module
each); `main` is the console entry point. Shared helpers live in :mod:`uarcodec_cli.common`.

Exit codes: 0 ok, 1 error (one line on stderr), 2 usage, 3 decoded with damaged GOMs concealed
(`uar decode --conceal`), 130 interrupted.
"""

from __future__ import annotations

from uarcodec_cli.app import cli
from uarcodec_cli.bench_cmd import bench_cmd
from uarcodec_cli.calibrate_cmd import calibrate_cmd
from uarcodec_cli.compare_cmd import compare_cmd
from uarcodec_cli.decode_cmd import decode_cmd
from uarcodec_cli.encode_cmd import encode_cmd
from uarcodec_cli.info_cmd import info_cmd

for _command in (encode_cmd, decode_cmd, info_cmd, compare_cmd, bench_cmd, calibrate_cmd):
    cli.add_command(_command)

main = cli
"""The `uar` group with every subcommand: the console entry point (`uar = uarcodec_cli.main:main`)."""
