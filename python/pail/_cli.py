"""The `pail` command the wheel installs: the Rust command line, run in this process."""

from __future__ import annotations

import signal
import sys


def main() -> None:
    # The command line handles Ctrl-C as the `pail` binary does: the default action.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    from pail._pail import run_cli

    sys.stdout.flush()
    sys.exit(run_cli(["pail", *sys.argv[1:]]))


if __name__ == "__main__":
    main()
