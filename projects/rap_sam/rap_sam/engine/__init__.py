"""Runner parts: hooks and the interactive test loop."""
from .hooks import *  # noqa: F401,F403
from .interactive_test_loop import InteractiveTestLoop, prompts_only

__all__ = ['InteractiveTestLoop', 'prompts_only']
