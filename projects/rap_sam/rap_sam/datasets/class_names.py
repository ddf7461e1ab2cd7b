"""Class vocabularies of the datasets RAP-SAM trains on, with CLIP synonyms.

RAP-SAM classifies queries by cosine similarity to CLIP text embeddings of
class names, so datasets with different label sets can share one classifier
once their vocabularies are merged into one (see :func:`merge_vocabularies`).

Every class of a :class:`Vocabulary` has a dataset name (exactly as the
dataset's annotations spell it) and a tuple of clean text names for CLIP
prompts. The first text name is the class's canonical text: two classes of
different vocabularies are the same class when their canonical texts match.
"""
from collections import Counter
from dataclasses import dataclass
from typing import Dict, List, Sequence, Tuple


@dataclass(frozen=True)
class Vocabulary:
    """A dataset's label set with CLIP synonyms per class.

    Attributes:
        name (str): Short name of the vocabulary, e.g. ``'coco_panoptic'``.
        classes (tuple[str]): Class names in the dataset's category order.
        synonyms (tuple[tuple[str]]): Text names per class; the first one is
            the canonical text used to match classes across vocabularies.
    """
    name: str
    classes: Tuple[str, ...]
    synonyms: Tuple[Tuple[str, ...], ...]

    def __len__(self) -> int:
        return len(self.classes)


def canonical_text(text: str) -> str:
    """Normalise a class text for matching: lower case, single spaces."""
    return ' '.join(text.replace('_', ' ').lower().split())


def build_vocabulary(
        name: str,
        entries: Sequence[Tuple[str, Sequence[str]]]) -> Vocabulary:
    """Build and validate a :class:`Vocabulary` from ``(class, synonyms)``.

    Args:
        name (str): Short name of the vocabulary.
        entries (Sequence[tuple[str, Sequence[str]]]): Class name and its
            text names, in the dataset's category order. An empty synonym
            list means the class name itself, with ``_`` read as a space.

    Returns:
        Vocabulary: The validated vocabulary.

    Raises:
        ValueError: If a class name or a canonical text occurs twice.
    """
    classes = tuple(cls for cls, _ in entries)
    synonyms = tuple(
        tuple(syns) if syns else (canonical_text(cls), )
        for cls, syns in entries)
    _check_unique(name, 'class name', classes)
    _check_unique(name, 'canonical text',
                  [canonical_text(syns[0]) for syns in synonyms])
    return Vocabulary(name, classes, synonyms)


def _check_unique(vocab_name: str, what: str, items: Sequence[str]) -> None:
    duplicates = sorted(
        item for item, count in Counter(items).items() if count > 1)
    if duplicates:
        raise ValueError(
            f'Vocabulary {vocab_name!r} has duplicate {what}s: {duplicates}')


def merge_vocabularies(
        *vocabs: Vocabulary,
        name: str = 'merged') -> Tuple[Vocabulary, List[List[int]]]:
    """Merge label sets into one, matching classes by canonical text.

    Classes are taken in order: those of the first vocabulary, then each
    class of a later vocabulary that matches none of the classes so far.
    A merged class keeps the name of its first occurrence and the union of
    all synonyms (in order of appearance). A new class whose name is
    already taken by a different class (COCO's computer ``'mouse'`` and
    YouTube-VIS's animal ``'mouse'``) is renamed ``'<name> (<vocab>)'``.

    Args:
        *vocabs (Vocabulary): The vocabularies to merge.
        name (str): Name of the merged vocabulary. Defaults to 'merged'.

    Returns:
        tuple[Vocabulary, list[list[int]]]: The merged vocabulary and, per
        input vocabulary, the merged index of each of its classes.
    """
    if not vocabs:
        raise ValueError('merge_vocabularies needs at least one vocabulary')
    classes: List[str] = []
    synonyms: List[List[str]] = []
    index_of_text: Dict[str, int] = {}
    mappings: List[List[int]] = []
    for vocab in vocabs:
        mapping = []
        for cls, syns in zip(vocab.classes, vocab.synonyms):
            key = canonical_text(syns[0])
            if key not in index_of_text:
                index_of_text[key] = len(classes)
                taken = cls in classes
                classes.append(f'{cls} ({vocab.name})' if taken else cls)
                synonyms.append([])
            index = index_of_text[key]
            synonyms[index].extend(
                s for s in syns if s not in synonyms[index])
            mapping.append(index)
        mappings.append(mapping)
    merged = Vocabulary(name, tuple(classes),
                        tuple(tuple(syns) for syns in synonyms))
    _check_unique(name, 'class name', merged.classes)
    return merged, mappings


# COCO panoptic (2017): 80 things then 53 stuff, in category-id order.
COCO_PANOPTIC = build_vocabulary('coco_panoptic', [
    ('person', ['person', 'child', 'girl', 'boy', 'woman', 'man', 'people',
                'rider']),
    ('bicycle', ['bicycle', 'bike', 'cycle']),
    ('car', ['car', 'automobile', 'sedan', 'taxi']),
    ('motorcycle', ['motorcycle', 'motorbike', 'dirt bike']),
    ('airplane', ['airplane', 'aeroplane', 'plane', 'aircraft', 'jet']),
    ('bus', ['bus', 'autobus', 'minibus']),
    ('train', ['train', 'locomotive', 'tram', 'subway']),
    ('truck', ['truck', 'pickup truck', 'lorry']),
    ('boat', ['boat', 'ship', 'yacht', 'canoe', 'kayak']),
    ('traffic light', ['traffic light', 'traffic signal', 'stoplight']),
    ('fire hydrant', ['fire hydrant', 'hydrant']),
    ('stop sign', ['stop sign']),
    ('parking meter', ['parking meter']),
    ('bench', ['bench', 'park bench']),
    ('bird', ['bird']),
    ('cat', ['cat', 'kitten']),
    ('dog', ['dog', 'puppy']),
    ('horse', ['horse', 'pony', 'foal']),
    ('sheep', ['sheep', 'lamb']),
    ('cow', ['cow', 'cattle', 'bull', 'calf', 'ox']),
    ('elephant', ['elephant']),
    ('bear', ['bear']),
    ('zebra', ['zebra']),
    ('giraffe', ['giraffe']),
    ('backpack', ['backpack', 'rucksack']),
    ('umbrella', ['umbrella', 'parasol']),
    ('handbag', ['handbag', 'purse']),
    ('tie', ['necktie', 'tie', 'bow tie']),
    ('suitcase', ['suitcase', 'luggage']),
    ('frisbee', ['frisbee', 'flying disc']),
    ('skis', ['skis', 'ski']),
    ('snowboard', ['snowboard']),
    ('sports ball', ['sports ball', 'ball', 'football', 'soccer ball',
                     'basketball', 'baseball', 'tennis ball']),
    ('kite', ['kite']),
    ('baseball bat', ['baseball bat']),
    ('baseball glove', ['baseball glove', 'baseball mitt']),
    ('skateboard', ['skateboard']),
    ('surfboard', ['surfboard']),
    ('tennis racket', ['tennis racket', 'racket']),
    ('bottle', ['bottle']),
    ('wine glass', ['wine glass']),
    ('cup', ['cup', 'mug']),
    ('fork', ['fork']),
    ('knife', ['knife']),
    ('spoon', ['spoon']),
    ('bowl', ['bowl']),
    ('banana', ['banana']),
    ('apple', ['apple']),
    ('sandwich', ['sandwich', 'burger', 'hamburger']),
    ('orange', ['orange']),
    ('broccoli', ['broccoli']),
    ('carrot', ['carrot']),
    ('hot dog', ['hot dog']),
    ('pizza', ['pizza']),
    ('donut', ['donut', 'doughnut']),
    ('cake', ['cake']),
    ('chair', ['chair', 'stool']),
    ('couch', ['couch', 'sofa']),
    ('potted plant', ['potted plant', 'houseplant']),
    ('bed', ['bed']),
    ('dining table', ['dining table', 'table']),
    ('toilet', ['toilet']),
    ('tv', ['television', 'tv', 'tv monitor']),
    ('laptop', ['laptop', 'notebook computer']),
    ('mouse', ['computer mouse', 'mouse']),
    ('remote', ['remote control', 'remote']),
    ('keyboard', ['keyboard', 'computer keyboard']),
    ('cell phone', ['cell phone', 'mobile phone', 'smartphone', 'phone']),
    ('microwave', ['microwave oven', 'microwave']),
    ('oven', ['oven']),
    ('toaster', ['toaster']),
    ('sink', ['sink']),
    ('refrigerator', ['refrigerator', 'fridge']),
    ('book', ['book']),
    ('clock', ['clock']),
    ('vase', ['vase']),
    ('scissors', ['scissors']),
    ('teddy bear', ['teddy bear', 'toy bear']),
    ('hair drier', ['hair dryer', 'hair drier', 'blow dryer']),
    ('toothbrush', ['toothbrush']),
    ('banner', ['banner', 'flag']),
    ('blanket', ['blanket', 'quilt']),
    ('bridge', ['bridge']),
    ('cardboard', ['cardboard', 'carton']),
    ('counter', ['counter', 'countertop']),
    ('curtain', ['curtain', 'drape']),
    ('door-stuff', ['door']),
    ('floor-wood', ['wooden floor', 'parquet']),
    ('flower', ['flower']),
    ('fruit', ['fruit']),
    ('gravel', ['gravel']),
    ('house', ['house']),
    ('light', ['light', 'lamp']),
    ('mirror-stuff', ['mirror']),
    ('net', ['net']),
    ('pillow', ['pillow', 'cushion']),
    ('platform', ['platform', 'station platform']),
    ('playingfield', ['playing field', 'sports field', 'court']),
    ('railroad', ['railroad', 'railway', 'railroad track']),
    ('river', ['river']),
    ('road', ['road', 'street']),
    ('roof', ['roof']),
    ('sand', ['sand', 'beach']),
    ('sea', ['sea', 'ocean']),
    ('shelf', ['shelf', 'bookshelf']),
    ('snow', ['snow']),
    ('stairs', ['stairs', 'staircase', 'steps']),
    ('tent', ['tent']),
    ('towel', ['towel']),
    ('wall-brick', ['brick wall']),
    ('wall-stone', ['stone wall']),
    ('wall-tile', ['tiled wall']),
    ('wall-wood', ['wooden wall']),
    ('water-other', ['water']),
    ('window-blind', ['window blind', 'blinds']),
    ('window-other', ['window']),
    ('tree-merged', ['tree', 'branch', 'bush', 'leaves']),
    ('fence-merged', ['fence', 'railing', 'cage']),
    ('ceiling-merged', ['ceiling', 'ceiling tile']),
    ('sky-other-merged', ['sky', 'clouds', 'fog']),
    ('cabinet-merged', ['cabinet', 'cupboard']),
    ('table-merged', ['table', 'desk']),
    ('floor-other-merged', ['floor', 'tiled floor', 'marble floor']),
    ('pavement-merged', ['pavement', 'sidewalk', 'stone floor']),
    ('mountain-merged', ['mountain', 'hill']),
    ('grass-merged', ['grass', 'lawn', 'moss', 'straw']),
    ('dirt-merged', ['dirt', 'mud', 'soil']),
    ('paper-merged', ['paper', 'napkin']),
    ('food-other-merged', ['food', 'salad', 'vegetable']),
    ('building-other-merged', ['building', 'skyscraper']),
    ('rock-merged', ['rock', 'stone']),
    ('wall-other-merged', ['wall', 'concrete wall', 'panel wall']),
    ('rug-merged', ['rug', 'carpet', 'mat']),
])
COCO_PANOPTIC_NUM_THINGS = 80

# YouTube-VIS 2019: 40 classes in category-id order.
YTVIS2019 = build_vocabulary('ytvis2019', [
    ('person', ['person', 'child', 'girl', 'boy', 'woman', 'man',
                'people']),
    ('giant_panda', ['giant panda', 'panda']),
    ('lizard', ['lizard', 'gecko']),
    ('parrot', ['parrot', 'macaw']),
    ('skateboard', ['skateboard']),
    ('sedan', ['car', 'sedan', 'automobile']),
    ('ape', ['ape', 'gorilla', 'chimpanzee', 'orangutan']),
    ('dog', ['dog', 'puppy']),
    ('snake', ['snake']),
    ('monkey', ['monkey']),
    ('hand', ['hand', 'human hand']),
    ('rabbit', ['rabbit', 'bunny', 'hare']),
    ('duck', ['duck']),
    ('cat', ['cat', 'kitten']),
    ('cow', ['cow', 'cattle', 'bull', 'calf']),
    ('fish', ['fish']),
    ('train', ['train', 'locomotive']),
    ('horse', ['horse', 'pony']),
    ('turtle', ['turtle', 'tortoise']),
    ('bear', ['bear']),
    ('motorbike', ['motorcycle', 'motorbike']),
    ('giraffe', ['giraffe']),
    ('leopard', ['leopard']),
    ('fox', ['fox']),
    ('deer', ['deer']),
    ('owl', ['owl']),
    ('surfboard', ['surfboard']),
    ('airplane', ['airplane', 'plane', 'aircraft']),
    ('truck', ['truck']),
    ('zebra', ['zebra']),
    ('tiger', ['tiger']),
    ('elephant', ['elephant']),
    ('snowboard', ['snowboard']),
    ('boat', ['boat', 'ship']),
    ('shark', ['shark']),
    ('mouse', ['mouse', 'rat']),
    ('frog', ['frog', 'toad']),
    ('eagle', ['eagle']),
    ('earless_seal', ['seal', 'earless seal']),
    ('tennis_racket', ['tennis racket', 'racket']),
])


def _vipseg_texts(cls: str) -> List[str]:
    """Text names of a VIPSeg class: its ``_or_`` alternatives."""
    return [canonical_text(part) for part in cls.split('_or_')]


_VIPSEG_TEXT_OVERRIDES = {
    'Playground_slide': ['playground slide', 'slide'],
    'other_construction': ['construction', 'structure'],
    'tyre': ['tyre', 'tire'],
    'cattle': ['cattle', 'cow'],
    'other_animal': ['animal'],
    'other_plant': ['plant'],
    'commode': ['commode', 'toilet'],
    'roaster': ['roaster', 'stove'],
    'other_machine': ['machine'],
    'other_electronic_product': ['electronic device'],
}

# VIPSeg (VSPW label set): 124 classes in category-id order.
_VIPSEG_CLASSES = (
    'wall', 'ceiling', 'door', 'stair', 'ladder', 'escalator',
    'Playground_slide', 'handrail_or_fence', 'window', 'rail', 'goal',
    'pillar', 'pole', 'floor', 'ground', 'grass', 'sand', 'athletic_field',
    'road', 'path', 'crosswalk', 'building', 'house', 'bridge', 'tower',
    'windmill', 'well_or_well_lid', 'other_construction', 'sky',
    'mountain', 'stone', 'wood', 'ice', 'snowfield', 'grandstand', 'sea',
    'river', 'lake', 'waterfall', 'water', 'billboard_or_Bulletin_Board',
    'sculpture', 'pipeline', 'flag', 'parasol_or_umbrella',
    'cushion_or_carpet', 'tent', 'roadblock', 'car', 'bus', 'truck',
    'bicycle', 'motorcycle', 'wheeled_machine', 'ship_or_boat', 'raft',
    'airplane', 'tyre', 'traffic_light', 'lamp', 'person', 'cat', 'dog',
    'horse', 'cattle', 'other_animal', 'tree', 'flower', 'other_plant',
    'toy', 'ball_net', 'backboard', 'skateboard', 'bat', 'ball',
    'cupboard_or_showcase_or_storage_rack', 'box',
    'traveling_case_or_trolley_case', 'basket', 'bag_or_package',
    'trash_can', 'cage', 'plate', 'tub_or_bowl_or_pot', 'bottle_or_cup',
    'barrel', 'fishbowl', 'bed', 'pillow', 'table_or_desk', 'chair_or_seat',
    'bench', 'sofa', 'shelf', 'bathtub', 'gun', 'commode', 'roaster',
    'other_machine', 'refrigerator', 'washing_machine', 'Microwave_oven',
    'fan', 'curtain', 'textiles', 'clothes', 'painting_or_poster', 'mirror',
    'flower_pot_or_vase', 'clock', 'book', 'tool', 'blackboard', 'tissue',
    'screen_or_television', 'computer', 'printer', 'Mobile_phone',
    'keyboard', 'other_electronic_product', 'fruit', 'food', 'instrument',
    'train')
VIPSEG = build_vocabulary('vipseg', [
    (cls, _VIPSEG_TEXT_OVERRIDES.get(cls, _vipseg_texts(cls)))
    for cls in _VIPSEG_CLASSES
])


def _ade20k_panoptic() -> Vocabulary:
    """ADE20K panoptic (150 classes, 100 things then 50 stuff) in the label
    order of mmdet's ``ADE20KPanopticDataset``; a class's comma-separated
    WordNet names are its synonyms (``'painting, picture'``)."""
    from mmdet.datasets import ADE20KPanopticDataset
    return build_vocabulary('ade20k_panoptic', [
        (cls, [canonical_text(s) for s in cls.split(',') if s.strip()])
        for cls in ADE20KPanopticDataset.METAINFO['classes']
    ])


ADE20K_PANOPTIC = _ade20k_panoptic()

COCO_YTVIS2019_MERGED, COCO_YTVIS2019_MAPPINGS = merge_vocabularies(
    COCO_PANOPTIC, YTVIS2019, name='coco_ytvis2019')

VOCABULARIES: Dict[str, Vocabulary] = {
    vocab.name: vocab
    for vocab in (COCO_PANOPTIC, YTVIS2019, VIPSEG, ADE20K_PANOPTIC,
                  COCO_YTVIS2019_MERGED)
}


def get_vocabulary(name: str) -> Vocabulary:
    """Return a built-in vocabulary by name (a key of ``VOCABULARIES``)."""
    if name not in VOCABULARIES:
        raise KeyError(f'Unknown vocabulary {name!r}; built-in ones are '
                       f'{sorted(VOCABULARIES)}')
    return VOCABULARIES[name]
