import sys

from rlts_ray.agent import main

sys.exit(main())
