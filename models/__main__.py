"""`python -m models build` — the same as `embedstudio models build`."""

import sys

from models.cli import main

if __name__ == "__main__":
    sys.exit(main(["models", *sys.argv[1:]]))
