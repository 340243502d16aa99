"""Entry point of the ``nnsim`` command."""

import sys


def main(argv: list[str] | None = None) -> int:
    print("nnsim: the training dashboard is not built yet.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
