import sys

from crmflow.cli import main

sys.exit(main())
