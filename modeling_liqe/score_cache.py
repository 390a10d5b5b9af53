# coding=utf-8
# Copyright 2026 The liqe authors.
"""A persistent cache of LIQE scores per (model, image), shared by `liqe eval`, `liqe realign` and `liqe gmad`.

```python
from modeling_liqe.score_cache import CachedScorer, ScoreCache

cache = ScoreCache("scores.sqlite")
scorer = CachedScorer("path/to/model", cache)
records = scorer.score_encoded([("a.png", png_bytes), ...])   # one dict per image, in order
scorer.images_computed                                        # how many went through the model
```

Keys: the model's **fingerprint** (SHA-256 over the names and contents of the files that define it: config,
weights, processor, prompt features; not the model card) and the image's **content hash** (SHA-256 of the
encoded file bytes). So a renamed or copied image, or a second table over the same images, costs no model
pass, while retraining a model (new weights) or editing an image gives new keys. A record holds the score and
the three distributions (quality, scene, distortion; label -> probability). Failed images are not cached
(they are retried next time). The model itself is loaded only when some image is missing from the cache.
Storage: one SQLite file (stdlib `sqlite3`, safe for several readers). Not part of the Hub remote code.
"""

import hashlib
import io
import json
import os
import sqlite3
from pathlib import Path

PROBABILITY_KEYS = ("quality_probs", "scene_probs", "distortion_probs")
# Files of a model folder that do not change its scores.
FINGERPRINT_IGNORED = ("README.md", ".gitattributes")
DEFAULT_CACHE_ENV = "LIQE_SCORE_CACHE"


def default_cache_path():
    """$LIQE_SCORE_CACHE, else ~/.cache/liqe/scores.sqlite (under $XDG_CACHE_HOME when set)."""
    if os.environ.get(DEFAULT_CACHE_ENV):
        return Path(os.environ[DEFAULT_CACHE_ENV])
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "liqe" / "scores.sqlite"


def content_hash(data):
    """SHA-256 hex digest of an image's encoded bytes."""
    return hashlib.sha256(data).hexdigest()


def _file_digest(path, chunk=1 << 22):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def resolve_model_folder(model):
    """A local folder for a model folder or Hub id (a Hub id goes through the local Hub cache)."""
    if os.path.isdir(model):
        return Path(model)
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(str(model)))
    except Exception as error:  # offline and not cached, unknown id, ...
        raise ValueError(f"model {model!r}: not a folder, and no Hub snapshot could be found ({error})") from None


def model_fingerprint(model, cache=None):
    """SHA-256 over (relative name, file digest) of every file of the model folder that defines its scores.

    Digests of big weight files are memoised in `cache` (keyed by path, size and modification time) so a
    600 MB ViT-B/32 folder is read once, not on every command.
    """
    folder = resolve_model_folder(model)
    files = sorted(
        path for path in folder.rglob("*")
        if path.is_file() and path.name not in FINGERPRINT_IGNORED
        and not any(part.startswith(".") for part in path.relative_to(folder).parts)
    )
    if not any(path.suffix == ".safetensors" for path in files):
        raise ValueError(f"model folder {folder}: no .safetensors weights found")
    digest = hashlib.sha256()
    for path in files:
        stat = path.stat()
        known = cache.file_digest(path, stat) if cache is not None else None
        file_digest = known or _file_digest(path)
        if cache is not None and known is None:
            cache.remember_file_digest(path, stat, file_digest)
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0" + file_digest.encode() + b"\n")
    return digest.hexdigest()


class ScoreCache:
    """SQLite table of score records keyed by (model fingerprint, image content hash)."""

    def __init__(self, path=None):
        self.path = Path(default_cache_path() if path is None else path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.connection = sqlite3.connect(str(self.path))
            self.connection.executescript(
                """
                CREATE TABLE IF NOT EXISTS scores (
                    model TEXT NOT NULL, image TEXT NOT NULL, score REAL NOT NULL,
                    quality_probs TEXT, scene_probs TEXT, distortion_probs TEXT,
                    PRIMARY KEY (model, image)) WITHOUT ROWID;
                CREATE TABLE IF NOT EXISTS file_digests (
                    path TEXT PRIMARY KEY, size INTEGER, mtime_ns INTEGER, digest TEXT);
                """
            )
        except sqlite3.DatabaseError as error:
            raise ValueError(f"score cache {self.path}: not a usable SQLite file ({error})") from None

    def close(self):
        self.connection.close()

    # -- model fingerprints ---------------------------------------------------------------------------------
    def file_digest(self, path, stat):
        row = self.connection.execute(
            "SELECT digest FROM file_digests WHERE path = ? AND size = ? AND mtime_ns = ?",
            (str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns),
        ).fetchone()
        return row[0] if row else None

    def remember_file_digest(self, path, stat, digest):
        with self.connection:
            self.connection.execute(
                "INSERT OR REPLACE INTO file_digests VALUES (?, ?, ?, ?)",
                (str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns, digest),
            )

    # -- records --------------------------------------------------------------------------------------------
    def lookup(self, model, image_hashes, probabilities=True):
        """{image hash: record} for the hashes this model has a record of (records: score + distributions; with
        `probabilities=False` the distributions are not read, which is what gMAD and realignment need; a tuple of
        keys reads only those)."""
        wanted = set(image_hashes)
        found = {}
        # One scan of the model's rows beats thousands of point queries (10,000 images: ~20 ms).
        keys = PROBABILITY_KEYS if probabilities is True else tuple(probabilities or ())
        if not keys:
            for image, score in self.connection.execute("SELECT image, score FROM scores WHERE model = ?", (model,)):
                if image in wanted:
                    found[image] = {"score": score, **dict.fromkeys(PROBABILITY_KEYS)}
            return found
        for image, score, *probs in self.connection.execute(
            "SELECT image, score, quality_probs, scene_probs, distortion_probs FROM scores WHERE model = ?", (model,)
        ):
            if image in wanted:
                record = {"score": score}
                record.update({key: (json.loads(value) if value and key in keys else None)
                               for key, value in zip(PROBABILITY_KEYS, probs)})
                found[image] = record
        return found

    def store(self, model, records):
        """Store {image hash: record} for a model (records as `lookup` returns them)."""
        rows = [
            (model, image, float(record["score"]),
             *[(json.dumps(record[key]) if record.get(key) is not None else None) for key in PROBABILITY_KEYS])
            for image, record in records.items()
        ]
        with self.connection:
            self.connection.executemany("INSERT OR REPLACE INTO scores VALUES (?, ?, ?, ?, ?, ?)", rows)

    def count(self, model=None):
        if model is None:
            return self.connection.execute("SELECT COUNT(*) FROM scores").fetchone()[0]
        return self.connection.execute("SELECT COUNT(*) FROM scores WHERE model = ?", (model,)).fetchone()[0]


class CachedScorer:
    r"""
    Scores encoded images with one model through a `ScoreCache`.

    Args:
        model (`str`): a model folder or Hub id.
        cache (`ScoreCache`): where records are looked up and stored.
        name (`str`, *optional*): how reports name the model (default: the folder's name).
        scorer_kwargs: passed to `LIQEScorer` (device, batch_size, ...) when the model has to be loaded.

    `images_computed` counts the images that went through the model (cache misses), `model_loaded` says whether
    the model was loaded at all.
    """

    def __init__(self, model, cache, name=None, **scorer_kwargs):
        self.model = os.fspath(model)
        self.cache = cache
        self.name = name or Path(self.model.rstrip("/")).name or self.model
        self.fingerprint = model_fingerprint(self.model, cache)
        self.scorer_kwargs = scorer_kwargs
        self._scorer = None
        self.images_computed = 0

    @property
    def model_loaded(self):
        return self._scorer is not None

    @property
    def scorer(self):
        if self._scorer is None:
            from .scoring import LIQEScorer

            self._scorer = LIQEScorer(self.model, **self.scorer_kwargs)
        return self._scorer

    def score_encoded(self, items, hashes=None, probabilities=True):
        """Records for `items` = [(name, encoded image bytes)], in order; each has `score`, the three
        distributions (None for cached images when `probabilities=False`), `hash` and `error` (None, or a message
        naming the image; then `score` is None)."""
        items = list(items)
        hashes = [content_hash(data) for _, data in items] if hashes is None else list(hashes)
        found = self.cache.lookup(self.fingerprint, hashes, probabilities=probabilities)
        missing = {}
        for (name, data), image_hash in zip(items, hashes):
            if image_hash not in found and image_hash not in missing:
                missing[image_hash] = (name, data)
        errors = {}
        if missing:
            computed = self._compute(list(missing.items()), errors)
            self.cache.store(self.fingerprint, computed)
            found.update(computed)
        records = []
        for (name, _), image_hash in zip(items, hashes):
            if image_hash in found:
                record = dict(found[image_hash], hash=image_hash, error=None)
            else:
                record = dict.fromkeys(("score",) + PROBABILITY_KEYS)
                record.update(hash=image_hash, error=errors.get(image_hash, f"{name}: not scored"))
            records.append(record)
        return records

    def _compute(self, missing, errors):
        from PIL import Image

        images, keys = [], []
        for image_hash, (name, data) in missing:
            try:
                image = Image.open(io.BytesIO(data))
                image.load()
                images.append(image)
                keys.append((image_hash, name))
            except Exception as error:  # one undecodable image must not stop the table
                errors[image_hash] = f"{name}: cannot decode image: {type(error).__name__}: {error}"
        computed = {}
        for start in range(0, len(images), 256):  # bounded memory: decoded images are released per chunk
            chunk_keys = keys[start:start + 256]
            rows = self.scorer.score_images(images[start:start + 256], names=[name for _, name in chunk_keys])
            for (image_hash, _), row in zip(chunk_keys, rows):
                if row["error"] is not None:
                    errors[image_hash] = row["error"]
                    continue
                computed[image_hash] = {"score": row["score"], **{key: row[key] for key in PROBABILITY_KEYS}}
                self.images_computed += 1
        return computed


__all__ = ["ScoreCache", "CachedScorer", "model_fingerprint", "content_hash", "default_cache_path"]
