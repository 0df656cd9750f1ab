"""spacelens: track, compare, evaluate and see embedding spaces."""

from spacelens.api import add, load_dataset, load_space, log_space, ls, open_registry, rm, show
from spacelens.errors import NotFoundError, SpacelensError, SpacelensWarning

__version__ = "0.1.0"

__all__ = ["add", "load_dataset", "load_space", "log_space", "ls", "open_registry", "rm", "show",
           "NotFoundError", "SpacelensError", "SpacelensWarning", "__version__"]
