"""What the probes of research/probes share: the repository and research/ on the import path (on import), the model
folder loaded as a user loads it, and the names and CLS channels of a demo-spread model's fixed front features."""
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "research")]


def load_model(model_dir):
    """(model in eval mode, processor) of a LIQE model folder, through the Auto classes and its remote code."""
    from transformers import AutoModel, AutoProcessor

    model = AutoModel.from_pretrained(model_dir, trust_remote_code=True).eval()
    return model, AutoProcessor.from_pretrained(model_dir, trust_remote_code=True)


def spread_front_features(model):
    """(feature names, CLS channels) of the fixed front of a demo-spread model; the layout is rebuilt from its
    geometry as modeling_liqe/nss_init.py builds it (filter families of seed 0)."""
    import numpy as np

    from modeling_liqe.nss_init import NSSLayout, _filter_families

    vision = model.config.clip_config.vision_config
    layout = NSSLayout(vision.hidden_size, _filter_families(vision.patch_size, np.random.default_rng(0)), spread=True)
    return layout.feature_names(), layout.features()
