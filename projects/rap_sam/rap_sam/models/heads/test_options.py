"""The test-time options of RAP-SAM, typed and checked."""
from dataclasses import dataclass, fields
from typing import Mapping, Optional


@dataclass(frozen=True)
class TestOptions:
    """What ``model.test_cfg`` may hold (mmdet's MaskFormer keys and
    RAP-SAM's video keys); read through :meth:`from_cfg`, so that a
    misspelt key is an error rather than a silent default.

    Attributes:
        panoptic_on (bool): Panoptic results of images.
        semantic_on (bool): Not supported (mmdet's key); must stay False.
        instance_on (bool): Instance results of images. Object queries
            run when either result is asked for.
        max_per_image (int): Instances kept per image.
        iou_thr (float): Visible fraction of its own mask a panoptic
            segment needs.
        filter_low_score (bool): A panoptic segment keeps only pixels where
            its mask probability is >= 0.5.
        object_mask_thr (float): Class score a query needs to enter the
            panoptic map.
        max_per_video (int): Tracks kept per video.
        video_panoptic_on (bool): A panoptic map per video frame.
        clip_length (int, optional): Frames decoded together; None: the
            whole video.
        link_momentum (float): Momentum of the query slots that link clips
            (:class:`QueryLinker`).
    """
    panoptic_on: bool = True
    semantic_on: bool = False
    instance_on: bool = False
    max_per_image: int = 100
    iou_thr: float = 0.8
    filter_low_score: bool = False
    object_mask_thr: float = 0.8
    max_per_video: int = 10
    video_panoptic_on: bool = False
    clip_length: Optional[int] = None
    link_momentum: float = 0.

    __test__ = False  # not a pytest test class

    @classmethod
    def from_cfg(cls, test_cfg: Optional[Mapping]) -> 'TestOptions':
        """Options from a ``test_cfg`` dict (None: the defaults).

        Raises:
            ValueError: Naming the keys that are not options.
        """
        test_cfg = dict(test_cfg or {})
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(test_cfg) - names)
        if unknown:
            raise ValueError(f'test_cfg: unknown keys {unknown}; the options '
                             f'are {sorted(names)}')
        return cls(**test_cfg)
