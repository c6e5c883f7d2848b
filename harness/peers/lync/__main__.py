"""Entry point: python3 -m harness.peers.lync."""

import sys

from harness.peers.lync.mediation import main

sys.exit(main())
