"""Loading Hugging Face models without noise on stderr.

A pack or a local model loads in a second or two, so transformers' per-tensor ``Loading weights`` progress bar only
pushes a command's output (or its one-line error) down; progress bars are for long work. And loading a LoRA adapter
with peft raises a ``FutureWarning`` from inside peft, which our calls cannot avoid (see
:func:`quiet_model_loading`).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def quiet_model_loading() -> Iterator[None]:
    """Within the block: no transformers progress bars, and no peft ``is_gradient_checkpointing`` warning.

    The progress bar setting is restored afterwards, so a training run that loads a model later still shows its
    own bars.
    """
    from transformers.utils import logging as hf_logging

    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        with warnings.catch_warnings():
            # peft's PeftModel.__init__ (0.21) reads `model.is_gradient_checkpointing`, which transformers 5
            # deprecates in favour of `is_activation_checkpointing`: the warning is about peft's code, raised on
            # every PeftModel.from_pretrained, and no argument of ours avoids it. Only that message is hidden.
            warnings.filterwarnings("ignore", message=r"`is_gradient_checkpointing` is deprecated",
                                    category=FutureWarning)
            yield
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()
