import sys

from netattach.cli import main

sys.exit(main())
