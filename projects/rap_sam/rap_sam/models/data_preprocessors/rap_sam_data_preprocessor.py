"""One data preprocessor for image batches and clip batches."""
from typing import Dict

from mmdet.models.data_preprocessors import (DetDataPreprocessor,
                                             TrackDataPreprocessor)
from mmdet.registry import MODELS
from mmdet.structures import TrackDataSample


@MODELS.register_module()
class RapSAMDataPreprocessor(TrackDataPreprocessor):
    """Normalise and pad image batches (N, C, H, W) and clips (N, T, C, H, W).

    Image batches go through :class:`DetDataPreprocessor` (masks and
    semantic maps padded); clip batches through
    :class:`TrackDataPreprocessor`, plus the padding of each frame's
    ``gt_sem_seg`` that the track preprocessor lacks.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # The track preprocessor keeps (1, C, 1, 1) statistics, which turn
        # each (C, H, W) image of the image path into a 4-D tensor; (C, 1, 1)
        # broadcasts right for both images and (T, C, H, W) clips.
        if self._enable_normalize:
            self.register_buffer('mean', self.mean.view(-1, 1, 1), False)
            self.register_buffer('std', self.std.view(-1, 1, 1), False)

    def forward(self, data: dict, training: bool = False) -> Dict:
        """Dispatch on the kind of samples."""
        samples = data.get('data_samples')
        if samples and isinstance(samples[0], TrackDataSample):
            data = super().forward(data, training)
            if training and self.pad_seg:
                for track_sample in data['data_samples']:
                    self.pad_gt_sem_seg(track_sample.video_data_samples)
            return data
        return DetDataPreprocessor.forward(self, data, training)
