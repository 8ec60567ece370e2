"""curricle: steer language-model training through what the model sees and when.

The data path, one module per stage (see DESIGN.md):

    sources -> prepare (tokenizer + token store) -> MixtureSampler -> training loop
"""

from curricle.errors import CurricleError

__version__ = "0.1.0"

__all__ = ["CurricleError", "__version__"]
