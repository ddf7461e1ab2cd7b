"""The web demo's server: a FastAPI app around a ``RapSAMPredictor``."""
from .app import LOOPBACK_NAMES, create_app, is_loopback
from .session import ApiError, ImageSession, decode_image

__all__ = [
    'ApiError', 'ImageSession', 'LOOPBACK_NAMES', 'create_app',
    'decode_image', 'is_loopback'
]
