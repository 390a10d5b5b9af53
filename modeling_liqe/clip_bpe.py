"""The exact OpenAI CLIP BPE tokenizer, bundled with the package (no Hub access needed).

``assets/clip_bpe/vocab.json`` and ``assets/clip_bpe/merges.txt`` (49,408 tokens, 48,894 merges, MIT; see
``assets/clip_bpe/README.md`` for provenance) are built by ``scripts/build_clip_bpe.py`` from OpenAI's
``bpe_simple_vocab_16e6.txt.gz``.

The tokenizer is loaded with ``CLIPTokenizer.from_pretrained(<assets folder>)``, which works the same in
transformers 4.5x (slow Python tokenizer) and 5.x (tokenizers backend). Do NOT build it as
``CLIPTokenizer(vocab_file=..., merges_file=...)``: transformers 5 silently builds an empty vocabulary that way.
"""

from pathlib import Path

CLIP_BPE_DIR = Path(__file__).resolve().parent / "assets" / "clip_bpe"

CLIP_VOCAB_SIZE = 49408
CLIP_CONTEXT_LENGTH = 77
CLIP_BOS_TOKEN_ID = 49406  # <|startoftext|>
CLIP_EOS_TOKEN_ID = 49407  # <|endoftext|>
CLIP_PAD_TOKEN_ID = 49407  # CLIPTokenizer's default pad token is <|endoftext|>

# Loader bookkeeping that transformers 5 stores in init_kwargs and would otherwise write into
# tokenizer_config.json on save_pretrained (machine-specific, meaningless after upload).
_TRANSIENT_INIT_KWARGS = ("is_local", "local_files_only")


def load_clip_tokenizer(model_max_length: int = CLIP_CONTEXT_LENGTH, **kwargs):
    """Return a transformers ``CLIPTokenizer`` with the standard CLIP vocabulary, from the bundled files.

    ``<|startoftext|>`` = 49406 (bos), ``<|endoftext|>`` = 49407 (eos, and also pad and unk, CLIPTokenizer's
    defaults). Extra ``kwargs`` go to ``CLIPTokenizer.from_pretrained``. The result round-trips through
    ``save_pretrained`` -> ``AutoTokenizer.from_pretrained``.
    """
    from transformers import CLIPTokenizer

    if not (CLIP_BPE_DIR / "vocab.json").is_file() or not (CLIP_BPE_DIR / "merges.txt").is_file():
        raise FileNotFoundError(
            f"bundled CLIP BPE files missing in {CLIP_BPE_DIR}; rebuild them with scripts/build_clip_bpe.py"
        )
    tokenizer = CLIPTokenizer.from_pretrained(str(CLIP_BPE_DIR), model_max_length=model_max_length, **kwargs)
    for key in _TRANSIENT_INIT_KWARGS:
        tokenizer.init_kwargs.pop(key, None)
    if len(tokenizer) != CLIP_VOCAB_SIZE or tokenizer.convert_tokens_to_ids("<|endoftext|>") != CLIP_EOS_TOKEN_ID:
        raise RuntimeError(
            f"CLIP tokenizer loaded wrongly from {CLIP_BPE_DIR}: {len(tokenizer)} tokens, "
            f"<|endoftext|> = {tokenizer.convert_tokens_to_ids('<|endoftext|>')}"
        )
    return tokenizer


__all__ = [
    "CLIP_BPE_DIR",
    "CLIP_VOCAB_SIZE",
    "CLIP_CONTEXT_LENGTH",
    "CLIP_BOS_TOKEN_ID",
    "CLIP_EOS_TOKEN_ID",
    "CLIP_PAD_TOKEN_ID",
    "load_clip_tokenizer",
]
