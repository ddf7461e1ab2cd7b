"""Image loading whose errors name the file."""
from typing import Optional

from mmcv.transforms import LoadImageFromFile

from mmdet.registry import TRANSFORMS


@TRANSFORMS.register_module()
class LoadImageNamingFile(LoadImageFromFile):
    """:class:`mmcv.transforms.LoadImageFromFile` whose errors name the file.

    mmcv reports a missing file and an undecodable one by path, but an empty
    or truncated file fails inside the decoder (OpenCV's ``!buf.empty()``)
    with no path. Here every failure to read or decode is raised as an
    ``OSError`` that starts with the image path (a missing file stays a
    ``FileNotFoundError``); ``ignore_empty=True`` still returns None.
    Same arguments as the parent.
    """

    def transform(self, results: dict) -> Optional[dict]:
        try:
            return super().transform(results)
        except FileNotFoundError:
            raise
        except Exception as e:
            raise OSError(f'{results["img_path"]}: cannot read the image '
                          f'({type(e).__name__}: {str(e).strip()})') from e
