"""Deployment: ONNX export of the image model and the prompt decoder."""
from .onnx_export import (IMAGE_OUTPUTS, PROMPT_INPUTS, PROMPT_OUTPUTS,
                          ImageModelExport, PromptDecoderExport,
                          export_image_model, export_prompt_decoder,
                          panoptic_from, prompt_inputs)

__all__ = [
    'IMAGE_OUTPUTS', 'PROMPT_INPUTS', 'PROMPT_OUTPUTS', 'ImageModelExport',
    'PromptDecoderExport', 'export_image_model', 'export_prompt_decoder',
    'panoptic_from', 'prompt_inputs'
]
