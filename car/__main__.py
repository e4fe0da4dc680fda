"""``python -m car ...`` — see :mod:`car.cli`."""
import sys

from car.cli import main

sys.exit(main())
