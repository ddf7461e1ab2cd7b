"""The state a video carries from one clip to the next."""
from typing import Optional

from torch import Tensor

from ..utils.query_linker import QueryLinker
from .head_outputs import ObjectPredictions


class VideoTrackState:
    """Query slots and their class probabilities over a video.

    The queries of each new clip are put in slot order by
    :class:`QueryLinker` (Hungarian matching of the object adapter's
    embeddings, MinVIS); a slot's class probabilities are averaged over the
    clips seen so far. Offline prediction (:meth:`RapSAM.predict_video`)
    and streaming (``VideoPredictor``, clips of one frame) keep one such
    state per video, so memory does not grow with the video.

    Args:
        link_momentum (float): See :class:`QueryLinker`. Defaults to 0.
    """

    def __init__(self, link_momentum: float = 0.) -> None:
        self.linker = QueryLinker(link_momentum)
        self.prob_sum: Optional[Tensor] = None
        self.num_clips = 0

    def link(self, objects: ObjectPredictions) -> ObjectPredictions:
        """Put a clip's queries in slot order and update the class
        probabilities.

        Args:
            objects (ObjectPredictions): One clip's predictions (B = 1).

        Returns:
            ObjectPredictions: The same, queries in slot order.
        """
        perm = self.linker.link(objects.embeds[0])
        ordered = objects.reorder(perm)
        probs = ordered.cls_logits[0].softmax(-1)
        self.prob_sum = probs if self.prob_sum is None else \
            self.prob_sum + probs
        self.num_clips += 1
        return ordered

    @property
    def class_probs(self) -> Tensor:
        """(N, K + 1) mean class probabilities of the slots so far."""
        if self.prob_sum is None:
            raise RuntimeError('no clip linked yet')
        return self.prob_sum / self.num_clips
