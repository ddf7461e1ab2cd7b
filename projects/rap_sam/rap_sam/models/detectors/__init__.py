from .rap_sam import RapSAM

__all__ = ['RapSAM']
