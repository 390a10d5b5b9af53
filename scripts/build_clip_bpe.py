#!/usr/bin/env python
"""Build the bundled CLIP BPE tokenizer files from the open_clip_torch wheel.

The exact CLIP byte-pair vocabulary (OpenAI's ``bpe_simple_vocab_16e6.txt.gz``, MIT) ships inside the
``open_clip_torch`` wheel. This script reads ONLY that one file out of the wheel (as a zip archive; the
package is never installed or imported) and writes, under ``modeling_liqe/assets/clip_bpe/``:

* ``vocab.json``  -- token -> id, 49,408 entries, in id order;
* ``merges.txt``  -- ``#version: 0.2`` then the 48,894 merges used by CLIP, one ``a b`` pair a line;
* ``README.md`` / ``LICENSE`` -- provenance (wheel, member name, SHA-256s) and the MIT licence texts.

The vocabulary is built exactly as OpenAI's ``clip/simple_tokenizer.py`` does: the 256 byte-level
unicode characters in ``bytes_to_unicode`` order, the same 256 with ``</w>`` appended, the concatenation
of each of the first 48,894 merges (lines 1..48894 of the file, i.e. ``lines[1:49152-256-2+1]``), then
``<|startoftext|>`` (49406) and ``<|endoftext|>`` (49407).

The output is deterministic: running it again on the same wheel rewrites the files byte-identically.

Usage::

    pip download --no-deps open_clip_torch==3.3.0 -d /tmp/oc
    python scripts/build_clip_bpe.py /tmp/oc/open_clip_torch-3.3.0-py3-none-any.whl
"""

import argparse
import gzip
import hashlib
import json
import os
import zipfile
from pathlib import Path

MEMBER = "open_clip/bpe_simple_vocab_16e6.txt.gz"
REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO_ROOT / "modeling_liqe" / "assets" / "clip_bpe"

VOCAB_SIZE = 49408
NUM_MERGES = 49152 - 256 - 2  # 48,894
SOT, EOT = "<|startoftext|>", "<|endoftext|>"

OPENAI_LICENSE = """MIT License

Copyright (c) 2021 OpenAI

Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.
"""

# OpenCLIP's licence is copied verbatim from the wheel's own dist-info (not retyped).
LICENSE_MEMBER_SUFFIX = ".dist-info/licenses/LICENSE"


def bytes_to_unicode():
    """OpenAI CLIP / GPT-2 byte -> printable unicode character table (insertion order matters)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(2**8):
        if b not in bs:
            bs.append(b)
            cs.append(2**8 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


def build(gz_bytes):
    """Return (vocab: dict token -> id, merges: list of (a, b)) from the raw .gz bytes."""
    lines = gzip.decompress(gz_bytes).decode("utf-8").split("\n")
    merge_lines = lines[1 : NUM_MERGES + 1]  # line 0 is the '#version' header
    merges = [tuple(line.split()) for line in merge_lines]
    if len(merges) != NUM_MERGES or any(len(m) != 2 for m in merges):
        raise ValueError("unexpected merges file layout")
    tokens = list(bytes_to_unicode().values())
    tokens = tokens + [t + "</w>" for t in tokens]
    tokens += ["".join(m) for m in merges]
    tokens += [SOT, EOT]
    vocab = {t: i for i, t in enumerate(tokens)}
    if len(tokens) != VOCAB_SIZE or len(vocab) != VOCAB_SIZE:
        raise ValueError(f"vocabulary has {len(tokens)} tokens ({len(vocab)} distinct), expected {VOCAB_SIZE}")
    return vocab, merges


def _write(path, text):
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("wheel", help="path to open_clip_torch-*.whl")
    ap.add_argument("--out", default=str(DEFAULT_OUT), help="output folder (default: %(default)s)")
    args = ap.parse_args(argv)

    wheel = Path(args.wheel)
    with zipfile.ZipFile(wheel) as zf:
        gz_bytes = zf.read(MEMBER)
        license_members = [name for name in zf.namelist() if name.endswith(LICENSE_MEMBER_SUFFIX)]
        if not license_members:
            raise SystemExit(f"{wheel}: no {LICENSE_MEMBER_SUFFIX} member; cannot copy OpenCLIP's licence")
        open_clip_license = zf.read(license_members[0]).decode("utf-8")
    gz_sha = hashlib.sha256(gz_bytes).hexdigest()
    wheel_sha = hashlib.sha256(wheel.read_bytes()).hexdigest()

    vocab, merges = build(gz_bytes)
    out = Path(args.out)
    os.makedirs(out, exist_ok=True)

    vocab_text = json.dumps(vocab, ensure_ascii=False, separators=(",", ":")) + "\n"
    merges_text = "#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges)
    _write(out / "vocab.json", vocab_text)
    _write(out / "merges.txt", merges_text)

    vocab_sha = hashlib.sha256(vocab_text.encode("utf-8")).hexdigest()
    merges_sha = hashlib.sha256(merges_text.encode("utf-8")).hexdigest()

    _write(
        out / "LICENSE",
        "The files vocab.json and merges.txt in this folder are derived from OpenAI CLIP's\n"
        "bpe_simple_vocab_16e6.txt.gz, as redistributed in the open_clip_torch wheel.\n"
        "Both projects are MIT-licensed; their licence texts follow.\n\n"
        "==== OpenAI CLIP (https://github.com/openai/CLIP) ====\n\n"
        + OPENAI_LICENSE
        + "\n==== OpenCLIP (https://github.com/mlfoundations/open_clip), verbatim from the wheel's "
        + license_members[0]
        + " ====\n\n"
        + open_clip_license,
    )
    _write(
        out / "README.md",
        f"""# CLIP BPE tokenizer files (bundled, offline)

`vocab.json` ({len(vocab):,} tokens) and `merges.txt` ({len(merges):,} merges, `#version: 0.2` header) are
the standard OpenAI CLIP byte-level BPE tokenizer, in the layout transformers' `CLIPTokenizer.from_pretrained`
reads. `<|startoftext|>` = {vocab[SOT]}, `<|endoftext|>` = {vocab[EOT]}; "a photo of a cat" encodes to
`[49406, 320, 1125, 539, 320, 2368, 49407]`. Load them with `modeling_liqe.clip_bpe.load_clip_tokenizer()`.

## Provenance

- Source: member `{MEMBER}` of the wheel `{wheel.name}`
  (PyPI `open_clip_torch`; read as a zip archive, the package was neither installed nor imported).
- SHA-256 of the source `.gz` member: `{gz_sha}`
- SHA-256 of the wheel: `{wheel_sha}`
- SHA-256 of `vocab.json`: `{vocab_sha}`
- SHA-256 of `merges.txt`: `{merges_sha}`
- Built by `scripts/build_clip_bpe.py` the same way as OpenAI's `clip/simple_tokenizer.py`: 256 byte-level
  characters (`bytes_to_unicode` order), the same 256 with `</w>`, the concatenations of merges 1..{NUM_MERGES}
  (`lines[1:49152-256-2+1]`), then `<|startoftext|>`, `<|endoftext|>`. Rerunning the script on the same
  wheel rewrites these files byte-identically.

## Licence

MIT: the vocabulary is OpenAI's (Copyright (c) 2021 OpenAI), redistributed by OpenCLIP (MIT). Full texts in
`LICENSE`.
""",
    )
    print(f"wrote {out}: {len(vocab)} tokens, {len(merges)} merges; source .gz sha256 {gz_sha}")


if __name__ == "__main__":
    main()
