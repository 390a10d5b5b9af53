"""A weighted average of LIQE model folders of one initialisation (a model soup; with two folders, WiSE-FT's
interpolation): every floating-point tensor sum_i w_i * model_i, the prompt features re-encoded from the averaged
text tower (`save_pretrained` stores them; the first folder's fingerprint would not match). Non-float tensors (token
ids, masks) must be equal, and the frozen front equal to float rounding (its standardisation is recomputed per run):
a mix of two initialisations or fronts is meaningless, so it is refused; the first folder's front is kept.

    python research/probes/soup_weights.py OUT_DIR A_DIR B_DIR [C_DIR ...] [--weights wA wB ...]   (default: uniform)
"""
import argparse

import torch

import probe_model  # noqa: E402,F401  (puts the repository on the path)
from modeling_liqe import LIQEModel, LIQEProcessor  # noqa: E402

CACHED = ("prompt_text_features", "prompt_text_fingerprint")
FROZEN_FRONT = ("clip.vision_model.embeddings.", "clip.vision_model.pre_layrnorm.", "clip.vision_model.encoder.layers.0.",
                "clip.vision_model.encoder.layers.1.", "clip.vision_model.encoder.layers.2.")


def soup(folders, weights, out_dir):
    if len(weights) != len(folders) or abs(sum(weights) - 1) > 1e-6:
        raise SystemExit(f"--weights: {len(folders)} weights summing to 1 expected, got {weights}")
    models = [LIQEModel.from_pretrained(f) for f in folders]
    states = [m.state_dict() for m in models]
    first = states[0]
    for folder, state in zip(folders[1:], states[1:]):
        if set(state) != set(first):
            raise SystemExit(f"{folder}: other tensors than {folders[0]}: {sorted(set(state) ^ set(first))[:5]}")
    mixed = {}
    for name, tensor in first.items():
        others = [state[name] for state in states[1:]]
        if name.startswith(FROZEN_FRONT) and not all(torch.allclose(tensor, o, rtol=1e-5, atol=1e-6) for o in others):
            raise SystemExit(f"{name}: the frozen fronts differ (another seed or front?); a mix would be meaningless")
        if name not in CACHED and not tensor.is_floating_point() and not all(torch.equal(tensor, o) for o in others):
            raise SystemExit(f"{name}: non-float tensors differ")
        if name in CACHED or name.startswith(FROZEN_FRONT) or not tensor.is_floating_point():
            mixed[name] = tensor
        else:
            mixed[name] = sum(w * s[name].double() for w, s in zip(weights, states)).to(tensor.dtype)
    models[0].load_state_dict(mixed)
    models[0].save_pretrained(out_dir)  # re-encodes the prompts from the averaged text tower
    LIQEProcessor.from_pretrained(folders[0]).save_pretrained(out_dir)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out_dir")
    parser.add_argument("folders", nargs="+")
    parser.add_argument("--weights", type=float, nargs="+")
    args = parser.parse_args(argv)
    soup(args.folders, args.weights or [1 / len(args.folders)] * len(args.folders), args.out_dir)


if __name__ == "__main__":
    main()
