"""What every batch entry point that writes figures sets up first."""

import matplotlib
from absl import flags, logging


def quiet_batch_job() -> None:
    """Figures go to files, never to a display; warnings only unless --verbosity is given
    (orbax logs every checkpoint save at INFO)."""
    matplotlib.use("Agg")
    if not flags.FLAGS["verbosity"].present:
        logging.set_verbosity(logging.WARNING)
