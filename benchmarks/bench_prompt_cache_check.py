"""Cost of the prompt cache's content check against a cached forward (ViT-B/32 geometry, one image, 15 windows).

    OMP_NUM_THREADS=1 python -m benchmarks.bench_prompt_cache_check

Medians of 5 side-by-side runs on one CPU thread; run them on a quiet machine (the ratio is what matters).
"""

import time

import torch

from modeling_liqe.geometries import init_random_model
from modeling_liqe.modeling_liqe import _content_checksum
from tests.conftest import FIXTURES


def main(repeats=5):
    torch.set_num_threads(1)
    model, processor = init_random_model("vit-b-32")
    inputs = processor(images=str(FIXTURES / "images" / "astronaut.png"))
    tensors = [t for _, t in model._text_tensors()] + [model.prompt_text_features, model.prompt_text_fingerprint]
    check, forward = [], []
    with torch.no_grad():
        model(**inputs)  # fills the cache
        for _ in range(repeats):
            start = time.perf_counter()
            _content_checksum(tensors)
            check.append(time.perf_counter() - start)
            start = time.perf_counter()
            model(**inputs)
            forward.append(time.perf_counter() - start)
        start = time.perf_counter()
        model._encode_prompts()
        encode = time.perf_counter() - start
    median = lambda values: sorted(values)[len(values) // 2]  # noqa: E731
    elements = sum(t.numel() for t in tensors) / 1e6
    print(
        f"text tensors {elements:.1f} M elements: checksum {median(check) * 1e3:.1f} ms, cached forward (checksum "
        f"included) {median(forward) * 1e3:.1f} ms = {median(check) / median(forward):.1%}; encoding the prompts "
        f"{encode * 1e3:.0f} ms"
    )


if __name__ == "__main__":
    main()
