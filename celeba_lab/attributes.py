"""CelebA's attribute names and partitions: the constants every module shares.

Nothing here imports a deep-learning framework, so the data layer and the synthetic writer
can use it on a machine without TensorFlow.
"""

from __future__ import annotations

#: The 40 binary attributes, in the column order of ``list_attr_celeba.txt``.
ATTRIBUTES: tuple[str, ...] = (
    "5_o_Clock_Shadow", "Arched_Eyebrows", "Attractive", "Bags_Under_Eyes", "Bald", "Bangs",
    "Big_Lips", "Big_Nose", "Black_Hair", "Blond_Hair", "Blurry", "Brown_Hair",
    "Bushy_Eyebrows", "Chubby", "Double_Chin", "Eyeglasses", "Goatee", "Gray_Hair",
    "Heavy_Makeup", "High_Cheekbones", "Male", "Mouth_Slightly_Open", "Mustache",
    "Narrow_Eyes", "No_Beard", "Oval_Face", "Pale_Skin", "Pointy_Nose", "Receding_Hairline",
    "Rosy_Cheeks", "Sideburns", "Smiling", "Straight_Hair", "Wavy_Hair", "Wearing_Earrings",
    "Wearing_Hat", "Wearing_Lipstick", "Wearing_Necklace", "Wearing_Necktie", "Young",
)

#: The official partitions, indexed by the code used in ``list_eval_partition.txt``.
PARTITIONS: tuple[str, ...] = ("train", "validation", "test")

#: Images per official partition in the real data set (in file order train, validation, test).
PARTITION_SIZES: dict[str, int] = {"train": 162_770, "validation": 19_867, "test": 19_962}

#: Number of images in the real data set.
N_IMAGES: int = 202_599

#: CelebA's aligned images are 218 pixels high and 178 wide.
IMAGE_SHAPE: tuple[int, int, int] = (218, 178, 3)

#: The four hair-colour attributes used by the mode-collapse analysis.
HAIR_COLOURS: tuple[str, ...] = ("Black_Hair", "Blond_Hair", "Brown_Hair", "Gray_Hair")

#: The three attributes the source report classified.
REPORT_ATTRIBUTES: tuple[str, ...] = ("Male", "Eyeglasses", "Smiling")

__all__ = [
    "ATTRIBUTES", "PARTITIONS", "PARTITION_SIZES", "N_IMAGES", "HAIR_COLOURS", "REPORT_ATTRIBUTES",
]
