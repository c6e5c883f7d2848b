"""Entry point: python3 -m harness.peers.skype."""

import sys

from harness.peers.skype.service import main

sys.exit(main())
