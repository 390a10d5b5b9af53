"""Test-wide settings: offline Hub, a private HF cache, and the repo root on sys.path."""

import os
import sys
import tempfile
from pathlib import Path

# Must happen before transformers / datasets are imported anywhere (remote modules are cached in HF_HOME).
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ.setdefault("HF_HOME", tempfile.mkdtemp(prefix="liqe-test-hf-home-"))
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO_ROOT = Path(__file__).resolve().parent.parent
FIXTURES = REPO_ROOT / "tests" / "fixtures"
SHARED_LIQE_LABELS = REPO_ROOT.parent / "shared" / "liqe_labels" / "IQA_Database"

if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))
