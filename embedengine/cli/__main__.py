"""`python -m embedengine.cli`: the engine's command line (every area but `models`, which lives in the
`models` package: use `embedstudio models …` or `python -m models …`)."""

import sys

from embedengine.cli import main

sys.exit(main())
