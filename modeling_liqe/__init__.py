"""LIQE (CVPR 2023) blind image quality assessment on transformers' CLIP.

Importing the package registers the classes with the Auto API and for remote code, so that
`save_pretrained` writes `auto_map` and copies the modules, and a saved folder loads anywhere with
`AutoModel.from_pretrained(folder, trust_remote_code=True)`.
"""

from transformers import AutoConfig, AutoImageProcessor, AutoModel, AutoProcessor

from .clip_bpe import load_clip_tokenizer
from .configuration_liqe import (
    REMOTE_CODE_FILES,
    DISTORTION_CLASSES,
    FINE_DISTORTION_TO_CLASS,
    QUALITY_LEVELS,
    SCENES,
    VARIANTS,
    LIQEConfig,
)
from .image_processing_liqe import LIQEImageError, LIQEImageProcessor, load_image
from .losses import (
    DynamicWeightAverage,
    fidelity,
    multilabel_fidelity_loss,
    quality_ranking_loss,
    single_label_fidelity_loss,
)
from .modeling_liqe import LIQEModel, LIQEOutput, LIQEPreTrainedModel
from .processing_liqe import LIQEProcessor

AutoConfig.register("liqe", LIQEConfig, exist_ok=True)
AutoModel.register(LIQEConfig, LIQEModel, exist_ok=True)
AutoImageProcessor.register(LIQEConfig, slow_image_processor_class=LIQEImageProcessor, exist_ok=True)
AutoProcessor.register(LIQEConfig, LIQEProcessor, exist_ok=True)

# from_clip on a checkpoint without a tokenizer uses the CLIP BPE bundled with the package (not remote code).
LIQEModel.default_prompt_tokenizer = staticmethod(load_clip_tokenizer)

LIQEConfig.register_for_auto_class()
LIQEModel.register_for_auto_class("AutoModel")
LIQEImageProcessor.register_for_auto_class("AutoImageProcessor")
LIQEProcessor.register_for_auto_class("AutoProcessor")

__version__ = "0.1.0"
