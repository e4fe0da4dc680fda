"""Dataset readers for every benchmark of the paper and the field's two others, in their standard on-disk layouts.

Common interface
----------------
``get_dataset(name, root, split=None, **options)`` returns a dataset: a ``Sequence`` of samples
(``len(ds)``, ``ds[i]``, iteration) with these attributes:

=================== ===========================================================================
``name``            registry name (below)
``kind``            ``"semantic"`` | ``"refer"`` | ``"video"``
``split``           split read (default: the paper's evaluation split)
``class_names``     the text queries (official strings, synonyms included); ``[]`` for refer/video
``stuff``           ``list[bool]`` per class index: True = stuff pass (Context, ADE, PC-459,
                    COCO-Stuff, Cityscapes); None for single-pass datasets (VOC, COCO-Object)
``num_classes``     confusion-matrix size, background / unlabeled label 0 included
``has_background``  True: label 0 = background / unlabeled and class index i <-> label i + 1 (all
                    real datasets); False: class index i <-> label i (e.g. toy splits)
``ignore_index``    label of ignored pixels: 255, or 65535 for PC-459 / ADE-847 (labels pass 255)
``ignore_background`` the paper's setting for this name (VOC-20, PC-59, A-150, A-847, PC-459: True;
                    COCO-Stuff and Cityscapes too, as A-150)
``label_names``     one display name per label id (for result tables)
``sample_name(i)``  name of sample i without reading files
=================== ===========================================================================

Samples (``car.data.base``):

* ``SegSample(image uint8 (H, W, 3), gt int64 (H, W), name)``; gt in the dataset's label ids.
* ``RefSample(image, gt bool (H, W), sentences list[str], name)``; GRES no-target: gt all False.
* ``VideoSample(frames list[uint8 (H, W, 3)], masks list[bool (H, W)], expression, name)``.

Names: ``voc`` (VOC-21), ``voc20`` (same data, background ignored), ``coco`` (COCO-Object, 81),
``context`` (PC-60), ``context59`` (same data, background ignored), ``context459``, ``ade150``,
``ade847``, ``cocostuff171`` (COCO-Stuff-164k, 171 classes), ``cityscapes`` (19 classes), ``refcoco``,
``refcocoplus``, ``refcocog``, ``gres``, ``davis`` (Ref-DAVIS 2017). VOC-20 and PC-59 are an
*evaluation* setting over the same annotations (``ignore_background``). The image + label-folder
benchmarks (ADE, PC-459, COCO, Cityscapes) share one reader, :func:`car.data.folders.read_folders`.
``register_dataset(name, factory)`` adds more (e.g. the toy splits of ``car.toy``).

The field's scoring rules (config fields, ``car.config``): COCO-Object's unlabelled pixels are ignored
(``coco_unlabeled: ignore``, the default) or counted as background (``background``, the field's reading;
:mod:`car.data.cocostuff`); on the sets without a background class (VOC-20, PC-59, COCO-Stuff,
Cityscapes, ADE-150) CaR may label a pixel background (``predict_background: true``, the default) or,
as the field's single-pass methods, never does (``false``: the best non-background class,
:func:`car.adapters.fill_background`).

Behaviour on bad data:

* missing folder / index file, or a label folder holding none of its images' label files (a half
  download, or labels not converted) -> ``DatasetNotFoundError`` (a ``FileNotFoundError``) naming what
  is missing, the expected layout and where the data is obtained; some label files missing -> one
  ``UserWarning`` when the dataset is opened (those samples are skipped by ``car.evaluate``);
* empty split, unknown split or name -> ``ValueError``;
* corrupt image, missing label file, label map of another size than its image -> ``SampleError``
  (a ``ValueError``) naming the file, raised by ``ds[i]`` (``car.evaluate`` records and skips it);
* label ids outside the class list -> set to ``ignore_index``, counted in
  ``ds.unknown_label_pixels`` with one ``UserWarning`` per dataset;
* malformed or badly encoded annotation / expression file -> ``AnnotationError`` naming the file;
* RefCOCO ``refs(*).p`` pickles are read by :func:`load_restricted_pickle`, which refuses any
  object but plain containers, strings and numbers.
"""
from car.data.base import (
    AnnotationError,
    BaseDataset,
    DatasetNotFoundError,
    RefSample,
    SampleError,
    SegSample,
    SemanticDataset,
    VideoSample,
    VideoSetSample,
)
from car.data.classes import (
    ADE150_CLASSES,
    ADE150_STUFF_CLASS_ID,
    ADE847_STUFF_CLASS_ID,
    CITYSCAPES_CLASSES,
    CITYSCAPES_STUFF_CLASS_ID,
    COCO_STUFF_STUFF_CLASS_ID,
    COCO_OBJECT_CLASSES,
    COCO_OBJECT_CLASSES_PLAIN,
    PASCAL459_STUFF_CLASS_ID,
    PASCAL_CONTEXT_CLASSES,
    PASCAL_CONTEXT_STUFF_CLASS_ID,
    PASCAL_CONTEXT_THING_CLASS_ID,
    VOC_CLASSES,
    VOC_CLASSES_PLAIN,
    load_class_names,
)
from car.data.refer import ReferDataset, load_restricted_pickle, process_sentence
from car.data.registry import get_dataset, list_datasets, register_dataset
from car.data.video import VideoDataset, VideoSetDataset

__all__ = [
    "ADE150_CLASSES", "ADE150_STUFF_CLASS_ID", "ADE847_STUFF_CLASS_ID", "AnnotationError",
    "BaseDataset", "CITYSCAPES_CLASSES", "CITYSCAPES_STUFF_CLASS_ID", "COCO_OBJECT_CLASSES",
    "COCO_STUFF_STUFF_CLASS_ID", "COCO_OBJECT_CLASSES_PLAIN", "DatasetNotFoundError",
    "PASCAL459_STUFF_CLASS_ID", "PASCAL_CONTEXT_CLASSES", "PASCAL_CONTEXT_STUFF_CLASS_ID",
    "PASCAL_CONTEXT_THING_CLASS_ID", "RefSample", "ReferDataset", "SampleError", "SegSample",
    "SemanticDataset", "VOC_CLASSES", "VOC_CLASSES_PLAIN", "VideoDataset", "VideoSample", "VideoSetDataset", "VideoSetSample",
    "get_dataset", "list_datasets", "load_class_names", "load_restricted_pickle",
    "process_sentence", "register_dataset",
]
