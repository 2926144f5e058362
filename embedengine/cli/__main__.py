import sys

from embedengine.cli import main

sys.exit(main())
