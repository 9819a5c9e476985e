import sys

from csir.cli import main

sys.exit(main())
