"""The bundle's entry point: the same `embedstudio` command (no arguments opens the app)."""

import sys

from embedstudio import main

if __name__ == "__main__":
    sys.exit(main())
