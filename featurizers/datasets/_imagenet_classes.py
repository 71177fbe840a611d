"""WordNet-id tables of the two nine-class ImageNet subsets (data, no code).

Two different "ImageNet-9"s are in use, and this file keeps them apart:

``rebias`` -- the 9-Class ImageNet of ReBias (Bahng et al., 2020), also used
by LWBC (Kim et al., 2022) and by the NeuronTune paper (54600 train / 2100
val images = 42 ImageNet-1k classes x 1300 / 50; 1087 ImageNet-A images).
Source: ``CLASS_TO_INDEX`` and ``RESTRICTED_RANGES`` of
``datasets/imagenet.py`` in github.com/clovaai/rebias (MIT licence),
copied exactly; the indices in the comments were re-derived from the sorted
ImageNet-1k wnid list and agree with its ranges. Only 21 of these 42 wnids
are ImageNet-A classes (none of "crab").

``bg_challenge`` -- the nine super-classes of the Backgrounds Challenge
(Xiao et al., 2021), restricted to the 200 wnids of ImageNet-A. The
official mapping is ``in_to_in9.json`` of github.com/MadryLab/
backgrounds_challenge (ImageNet-1k index -> class), which could not be
consulted while writing this table. It was rebuilt from the class ranges
of the paper's appendix as remembered: dog 151-268; bird 8-24, 80-100,
127-146; wheeled vehicle 407, 436, 468, 511, 609, 627, 656, 661, 751, 817;
reptile 33-68; carnivore 269-299; insect 300-319; musical instrument 401,
402, 420, 486, 546, 558, 566, 594, 641, 642, 684, 776, 881, 889; primate
365-382; fish 389-397. UNVERIFIED: the wheeled-vehicle and
musical-instrument lists (and with them wnids n02701002, n03594945,
n03670208 and the eight instrument wnids) are the least certain; compare
with ``in_to_in9.json`` before relying on this table, or pass your own
mapping to :class:`~featurizers.datasets.imagenet_a.ImageNetAReader`.
The ImageNet-A indices come from its release (the 200 classes' positions
in ImageNet-1k).
"""

__all__ = [
    "BG_CHALLENGE_CLASS_NAMES",
    "BG_CHALLENGE_FOLDERS",
    "BG_CHALLENGE_VARIANTS",
    "REBIAS_CLASS_NAMES",
    "REBIAS_WNIDS",
    "IMAGENET_A_BG_CHALLENGE_WNIDS",
]

BG_CHALLENGE_CLASS_NAMES = [
    "dog", "bird", "wheeled vehicle", "reptile", "carnivore", "insect",
    "musical instrument", "primate", "fish",
]
# class folders of every Backgrounds Challenge variant: "00_dog" .. "08_fish"
BG_CHALLENGE_FOLDERS = [f"{i:02d}_{n}" for i, n in enumerate(BG_CHALLENGE_CLASS_NAMES)]
# test variants of the release backgrounds_challenge_data.tar.gz
BG_CHALLENGE_VARIANTS = [
    "original", "only_bg_b", "only_bg_t", "no_fg", "only_fg",
    "mixed_same", "mixed_rand", "mixed_next",
]

REBIAS_CLASS_NAMES = [
    "dog", "cat", "frog", "turtle", "bird", "monkey", "fish", "crab", "insect",
]
REBIAS_WNIDS = {
    # class 0: ImageNet-1k indices [151, 207, 234, 235, 254]
    "n02085620": 0, "n02099601": 0, "n02106550": 0, "n02106662": 0, "n02110958": 0,
    # class 1: ImageNet-1k indices [281, 282, 283, 284, 285]
    "n02123045": 1, "n02123159": 1, "n02123394": 1, "n02123597": 1, "n02124075": 1,
    # class 2: ImageNet-1k indices [30, 31, 32]
    "n01641577": 2, "n01644373": 2, "n01644900": 2,
    # class 3: ImageNet-1k indices [33, 34, 35, 36, 37]
    "n01664065": 3, "n01665541": 3, "n01667114": 3, "n01667778": 3, "n01669191": 3,
    # class 4: ImageNet-1k indices [89, 90, 94, 96, 97]
    "n01819313": 4, "n01820546": 4, "n01833805": 4, "n01843383": 4, "n01847000": 4,
    # class 5: ImageNet-1k indices [372, 373, 374, 375, 378]
    "n02486410": 5, "n02487347": 5, "n02488291": 5, "n02488702": 5, "n02492035": 5,
    # class 6: ImageNet-1k indices [393, 394, 395, 396, 397]
    "n02607072": 6, "n02640242": 6, "n02641379": 6, "n02643566": 6, "n02655020": 6,
    # class 7: ImageNet-1k indices [118, 119, 120, 121]
    "n01978287": 7, "n01978455": 7, "n01980166": 7, "n01981276": 7,
    # class 8: ImageNet-1k indices [306, 307, 308, 309, 310]
    "n02174001": 8, "n02177972": 8, "n02190166": 8, "n02206856": 8, "n02219486": 8,
}

IMAGENET_A_BG_CHALLENGE_WNIDS = {
    # class 0: ImageNet-1k indices [151, 207, 234, 235, 254]
    "n02085620": 0, "n02099601": 0, "n02106550": 0, "n02106662": 0, "n02110958": 0,
    # class 1: ImageNet-1k indices [11, 13, 15, 17, 22, 23, 89, 90, 94, 96, 97, 99,
    #                              130, 132, 143, 144]
    "n01531178": 1, "n01534433": 1, "n01558993": 1, "n01580077": 1, "n01614925": 1, "n01616318": 1,
    "n01819313": 1, "n01820546": 1, "n01833805": 1, "n01843383": 1, "n01847000": 1, "n01855672": 1,
    "n02007558": 1, "n02009912": 1, "n02037110": 1, "n02051845": 1,
    # class 2: ImageNet-1k indices [407, 609, 627]
    "n02701002": 2, "n03594945": 2, "n03670208": 2,
    # class 3: ImageNet-1k indices [37, 39, 42, 47, 50, 57]
    "n01669191": 3, "n01677366": 3, "n01687978": 3, "n01694178": 3, "n01698640": 3, "n01735189": 3,
    # class 4: ImageNet-1k indices [277, 283, 287, 291, 295, 298]
    "n02119022": 4, "n02123394": 4, "n02127052": 4, "n02129165": 4, "n02133161": 4, "n02137549": 4,
    # class 5: ImageNet-1k indices [301, 306, 307, 308, 309, 310, 311, 313, 314, 315, 317, 319]
    "n02165456": 5, "n02174001": 5, "n02177972": 5, "n02190166": 5, "n02206856": 5, "n02219486": 5,
    "n02226429": 5, "n02231487": 5, "n02233338": 5, "n02236044": 5, "n02259212": 5, "n02268443": 5,
    # class 6: ImageNet-1k indices [401, 402, 420, 486, 641, 642, 684, 776]
    "n02672831": 6, "n02676566": 6, "n02787622": 6, "n02992211": 6, "n03720891": 6, "n03721384": 6,
    "n03840681": 6, "n04141076": 6,
    # class 7: ImageNet-1k indices [372, 378]
    "n02486410": 7, "n02492035": 7,
    # class 8: ImageNet-1k indices [397]
    "n02655020": 8,
}
