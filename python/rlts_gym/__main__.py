"""`python -m rlts_gym --env ID --num-envs N --bind ENDPOINT`: see server.py and PROTOCOL.md."""

import sys

from .server import main

sys.exit(main())
