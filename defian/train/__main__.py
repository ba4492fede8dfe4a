"""``python -m defian.train`` (and ``torchrun ... -m defian.train``): the training command."""

import sys

from defian.train.loop import main

sys.exit(main())
