"""One home for the numbers the whole library shares.

ImageNet normalisation (every input pipeline and every figure that undoes it), and the sizes of
COCO 2014 after images without annotations are dropped (as ML-GCN and ADD-GCN count them).
"""

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

COCO_TRAIN_IMAGES = 82_081  # train2014 images with at least one label
COCO_VAL_IMAGES = 40_137  # val2014 images with at least one label
COCO_NUM_CLASSES = 80

JPEG_SUFFIXES = (".jpg", ".jpeg", ".JPG", ".JPEG")
