from .lite_deform_fpn import DeformUpsampleBlock, LiteDeformFPN

__all__ = ['DeformUpsampleBlock', 'LiteDeformFPN']
