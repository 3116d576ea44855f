import sys

from dbdgcn_lib.cli import main

sys.exit(main())
