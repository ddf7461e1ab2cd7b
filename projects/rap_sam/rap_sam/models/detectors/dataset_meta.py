"""The ``dataset_meta`` (class names, palette) a RAP-SAM model predicts in."""
import copy
import re
import warnings
from typing import Dict, Optional, Sequence

from mmdet.datasets import CocoPanopticDataset

_PLACEHOLDER = re.compile(r'class_\d+$')


def default_dataset_meta(class_names: Optional[Sequence[str]],
                         num_things_classes: int,
                         num_stuff_classes: int) -> Dict:
    """``dataset_meta`` of a model's test vocabulary.

    RAP-SAM checkpoints carry no vocabulary (classes are CLIP text
    embeddings), so mmdet's inferencers and visualisers need the class names
    from elsewhere. The COCO panoptic vocabulary (80 things, 53 stuff, the
    test vocabulary of every config here) gives
    ``CocoPanopticDataset.METAINFO`` with its palette; any other one its
    class names and the thing / stuff split, without a palette.

    Args:
        class_names (Sequence[str], optional): Names of the test classifier,
            in label order; ``class_{i}`` placeholders (random embeddings)
            or None when unknown.
        num_things_classes (int): Thing classes, listed first.
        num_stuff_classes (int): Stuff classes, listed after them.

    Returns:
        dict: ``classes``, ``thing_classes``, ``stuff_classes`` and, for
        COCO panoptic, ``palette``.
    """
    coco = CocoPanopticDataset.METAINFO
    num_classes = num_things_classes + num_stuff_classes
    placeholders = class_names is None or all(
        _PLACEHOLDER.match(name) for name in class_names)
    if num_things_classes == len(coco['thing_classes']) and \
            num_stuff_classes == len(coco['stuff_classes']) and (
                placeholders or tuple(class_names) == coco['classes']):
        return copy.deepcopy(dict(coco))
    if class_names is None or len(class_names) != num_classes:
        class_names = [f'class_{i}' for i in range(num_classes)]
    classes = tuple(class_names)
    return dict(
        classes=classes,
        thing_classes=classes[:num_things_classes],
        stuff_classes=classes[num_things_classes:])


class TestVocabularyMeta:
    """Mixin: a ``dataset_meta`` that always fits the predicted labels.

    mmdet's ``DetInferencer`` and ``init_detector`` set ``dataset_meta``
    from the checkpoint's ``meta['dataset_meta']``, or else to the 80 COCO
    detection classes. Panoptic labels need exactly the fusion head's
    ``num_classes`` names (``num_classes`` itself is void), so a meta with
    another number of ``classes`` is replaced, with a warning, by
    :func:`default_dataset_meta` of the test vocabulary (COCO panoptic with
    its palette for the configs here); so is none at all. The host needs
    ``panoptic_head`` (with ``classifier`` / ``test_classifier``) and
    ``panoptic_fusion_head``.
    """

    @property
    def dataset_meta(self) -> Dict:
        """dict: ``classes``, ``thing_classes``, ``stuff_classes`` (and
        ``palette``) of the predicted labels."""
        meta = self.__dict__.get('_dataset_meta')
        if meta is None or not self._fits(meta):
            meta = self._default_dataset_meta()
            self.__dict__['_dataset_meta'] = meta
        return meta

    @dataset_meta.setter
    def dataset_meta(self, meta: Optional[Dict]) -> None:
        if meta is not None and not self._fits(meta):
            default = self._default_dataset_meta()
            warnings.warn(
                f'dataset_meta has {len(meta.get("classes") or ())} '
                f'classes but the model predicts {len(default["classes"])}'
                ': using those of its test vocabulary instead')
            meta = default
        self.__dict__['_dataset_meta'] = meta

    def _fits(self, meta: Dict) -> bool:
        classes = meta.get('classes')
        return classes is not None and \
            len(classes) == self.panoptic_fusion_head.num_classes

    def _default_dataset_meta(self) -> Dict:
        head, fusion = self.panoptic_head, self.panoptic_fusion_head
        classifier = getattr(head, 'test_classifier', None) or \
            head.classifier
        return default_dataset_meta(
            getattr(classifier, 'class_names', None),
            fusion.num_things_classes, fusion.num_stuff_classes)
