"""Backbones of RAP-SAM (ResNet comes from mmdet)."""
from .seaformer import SeaFormer
from .stdc import STDCPyramid

__all__ = ['STDCPyramid', 'SeaFormer']
