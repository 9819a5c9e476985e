"""`python -m evaluation ...` and `accelerate launch -m evaluation ...` (same commands as `csir`)."""

import sys

from evaluation.cli import main

if __name__ == "__main__":
    sys.exit(main())
