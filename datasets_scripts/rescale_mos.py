"""A copy of a converted corpus whose MOS is put on another scale by a monotone power map, under a new corpus name;
optionally only a subset of its rows (mild distortions, high MOS), re-scaled over its own range.

Real corpora rate on different scales (LIVE 0-100, KADID 1-5, ...). To exercise `liqe realign` offline, a second
synthetic corpus is given a LIVE-like scale with a nonlinear, strictly increasing map of its 1-5 target::

    mos_new = scale * ((mos - low) / (high - low)) ** power        (defaults: scale 100, low 1, high 5, power 1.5)

Real corpora also cover different *quality ranges*, and each lab still rates over its whole scale: a corpus of only
mildly distorted photos has its best image near the top of its scale and its worst near the bottom, although that
worst image is better than most of another corpus. This is the case MOS realignment is for (`liqe realign`): a
per-corpus min-max or z-score stretches the mild corpus over the same span as a full-range one, whereas a map onto
a model's scale puts it where the model sees it. To build such a corpus from the synthetic one, keep a subset
(``--max-level N``: rows with distortion level <= N, rows without a level — pristine references — kept;
``--min-mos X``: rows whose source MOS >= X) and re-scale it over its own range (``--own-range``: ``low`` and
``high`` are the kept rows' lowest and highest MOS, so the kept rows run from 0 to ``scale``).

The README's realignment example (a full-range corpus on 1-5, and a mild-only one on its own 0-100 scale)::

    python -m datasets_scripts.synthetic --out SYN --seed 0
    python -m datasets_scripts.synthetic --out SYN1 --seed 1 --split-seed 0
    python -m datasets_scripts.rescale_mos SYN1 SYN_MILD --name synthetic_mild --max-level 2 --own-range

Only `mos`, `mos_raw` (set to the new MOS: it is this corpus's own scale) and `corpus` change; the images, ids and
other columns are kept. Without a subset the data files and split tables are kept as they are, so every split
scheme of the source still applies; with one, the data files keep their names and hold the kept rows, and every
split table keeps its kept images in their splits (row ids renumbered). A subset that keeps no row, or that leaves a
split of the data files or of a split table empty, is an error naming it. The source is not modified.
"""

import argparse
import shutil
import sys
from pathlib import Path

import numpy as np


def rescale(mos, power=1.5, low=1.0, high=5.0, scale=100.0):
    """scale * ((mos - low) / (high - low)) ** power; a clear error for MOS outside [low, high]."""
    mos = np.asarray(mos, dtype=np.float64)
    if not high > low or not power > 0 or not scale > 0:
        raise ValueError(f"need high > low, power > 0 and scale > 0 (got low {low}, high {high}, power {power}, "
                         f"scale {scale})")
    # The float32 MOS column may hold 1.0 as 0.99999994 etc.: allow a float32 rounding outside [low, high].
    tolerance = 1e-6 * max(abs(low), abs(high), 1.0)
    outside = (mos < low - tolerance) | (mos > high + tolerance)
    if np.any(outside):
        raise ValueError(f"{int(outside.sum())} MOS value(s) outside [{low}, {high}] (e.g. {mos[outside][0]}); "
                         "give --low/--high that hold the corpus's scale")
    return scale * np.clip((mos - low) / (high - low), 0.0, 1.0) ** power


def _column_floats(table, name):
    return np.array([np.nan if v is None else float(v) for v in table.column(name).to_pylist()], dtype=np.float64)


def keep_mask(table, max_level=None, min_mos=None, file="corpus"):
    """Which rows of one data file a subset keeps (all when neither option is given)."""
    keep = np.ones(table.num_rows, dtype=bool)
    if max_level is not None:
        if "distortion_level" not in table.column_names:
            raise ValueError(f"{file}: no distortion_level column; --max-level needs one")
        levels = _column_floats(table, "distortion_level")
        keep &= ~np.isfinite(levels) | (levels <= max_level)  # no level: a pristine reference, kept
    if min_mos is not None:
        mos = _column_floats(table, "mos")
        keep &= np.isfinite(mos) & (mos >= min_mos)
    return keep


def rescale_corpus(source, destination, name, power=1.5, low=None, high=None, scale=100.0, overwrite=False,
                   max_level=None, min_mos=None, own_range=False):
    """Write the rescaled (and, with `max_level` / `min_mos`, subset) copy; see the module docstring.

    low / high: the source scale (default 1 and 5); with `own_range` they are the kept rows' lowest and highest
    MOS instead (giving them too is an error).
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    from datasets_scripts.splits import SPLITS, SPLITS_DIR, data_files, list_split_tables, read_split_table

    source, destination = Path(source), Path(destination)
    if not (source / "data").is_dir() or not sorted((source / "data").glob("*.parquet")):
        raise ValueError(f"{source}: no data/*.parquet; not a corpus written by datasets_scripts")
    if own_range and (low is not None or high is not None):
        raise ValueError("--own-range sets low and high from the kept rows; do not give --low/--high with it")
    if max_level is not None and max_level < 1:
        raise ValueError(f"--max-level must be at least 1 (level 1 is the mildest), got {max_level}")
    subset = max_level is not None or min_mos is not None
    files = data_files(source)

    # Read and filter every data file first: the own range and the emptiness checks need all of them.
    kept_tables, kept_ids, kept_by_split = {}, [], {}
    for split in SPLITS:
        for file in files.get(split, []):
            table = pq.read_table(file)
            missing = [column for column in ("mos", "corpus", "image_id") if column not in table.column_names]
            if missing:
                raise ValueError(f"{file}: missing column(s) {missing}")
            if subset:
                table = table.filter(pa.array(keep_mask(table, max_level, min_mos, file=file)))
            kept_tables[file] = table
            kept_ids.extend(table.column("image_id").to_pylist())
            kept_by_split[split] = kept_by_split.get(split, 0) + table.num_rows
    rule = " and ".join(part for part in (f"distortion level <= {max_level}" if max_level is not None else "",
                                          f"MOS >= {min_mos:g}" if min_mos is not None else "") if part)
    if subset and not kept_ids:
        raise ValueError(f"{source}: no row has {rule}; the subset would be empty")
    emptied = [split for split, count in kept_by_split.items() if count == 0]
    if subset and emptied:
        raise ValueError(f"{source}: no row of the data files' {emptied} split(s) has {rule}; the copy would have "
                         "no such split")
    if own_range:
        mos = np.concatenate([_column_floats(table, "mos") for table in kept_tables.values()])
        mos = mos[np.isfinite(mos)]
        if mos.size == 0 or not mos.max() > mos.min():
            raise ValueError(f"{source}: the kept rows' MOS span no range ({mos.size} value(s)); --own-range needs "
                             "two different MOS values")
        low, high = float(mos.min()), float(mos.max())
    low = 1.0 if low is None else float(low)
    high = 5.0 if high is None else float(high)
    if not high > low or not power > 0 or not scale > 0:
        raise ValueError(f"need high > low, power > 0 and scale > 0 (got low {low}, high {high}, power {power}, "
                         f"scale {scale})")

    split_tables = {}
    if subset:  # every split scheme keeps its kept images, renumbered by their new row positions
        position = {image_id: row for row, image_id in enumerate(kept_ids)}
        for scheme in list_split_tables(source):
            stored = read_split_table(source, scheme)
            pairs = sorted((position[i], i, s) for i, s in zip(stored["image_id"], stored["split"]) if i in position)
            present = {s for s in stored["split"]}
            left = {s for _, _, s in pairs}
            if present - left:
                raise ValueError(f"{source}: split table {scheme!r}: no row of its {sorted(present - left)} split(s) "
                                 f"has {rule}; the copy would have an empty split")
            split_tables[scheme] = pa.table({"row_id": pa.array([p[0] for p in pairs], pa.int32()),
                                             "image_id": pa.array([p[1] for p in pairs], pa.string()),
                                             "split": pa.array([p[2] for p in pairs], pa.string())})

    new_tables = {}  # every MOS is mapped (and checked) before anything is written
    for file, table in kept_tables.items():
        mos = _column_floats(table, "mos")
        try:
            new = rescale(mos[np.isfinite(mos)], power=power, low=low, high=high, scale=scale)
        except ValueError as error:
            raise ValueError(f"{file}: {error}") from None
        values = mos.copy()
        values[np.isfinite(mos)] = new
        column = pa.array([None if not np.isfinite(v) else float(v) for v in values], type=pa.float32())
        for field in ("mos", "mos_raw"):
            if field in table.column_names:
                index = table.column_names.index(field)
                table = table.set_column(index, table.schema.field(index), column)
        index = table.column_names.index("corpus")
        table = table.set_column(index, table.schema.field(index), pa.array([name] * table.num_rows, pa.string()))
        new_tables[file] = table
    if destination.exists():
        if destination.resolve() == source.resolve():
            raise ValueError(f"{destination}: is the source corpus; give another folder")
        if any(destination.iterdir()):
            if not overwrite:
                raise ValueError(f"{destination}: exists and is not empty (use --overwrite)")
            shutil.rmtree(destination)
    (destination / "data").mkdir(parents=True, exist_ok=True)
    for item in source.iterdir():
        if item.name == "data" or (subset and item.name == SPLITS_DIR):
            continue
        (shutil.copytree if item.is_dir() else shutil.copy2)(item, destination / item.name)
    for file, table in new_tables.items():
        pq.write_table(table, destination / "data" / Path(file).name)
    if subset:
        (destination / SPLITS_DIR).mkdir(parents=True, exist_ok=True)
        for scheme, table in split_tables.items():
            pq.write_table(table, destination / SPLITS_DIR / f"{scheme}.parquet")
    card = destination / "README.md"
    if card.is_file():
        text = card.read_text(encoding="utf-8")
        kept = (f"only the {len(kept_ids)} rows with {rule} (per split: "
                + ", ".join(f"{s} {c}" for s, c in kept_by_split.items()) + "), re-scaled over "
                + ("their own MOS range" if own_range else "the given range") + "; the row counts below are the "
                "source's") if subset else "images and splits unchanged"
        note = (f"\n**Rescaled copy** (`python -m datasets_scripts.rescale_mos`): corpus `{name}`, "
                f"`mos = {scale:g} * ((mos_source - {low:g}) / {high - low:g}) ** {power:g}` of the source "
                f"`{source.name}`; {kept}. The text below describes the source.\n")
        head, sep, body = text.partition("\n---\n")
        card.write_text(head + sep + note + body if sep else note + text, encoding="utf-8")
    return destination


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m datasets_scripts.rescale_mos", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", help="converted corpus folder")
    parser.add_argument("out", help="output folder (a copy with the new MOS)")
    parser.add_argument("--name", required=True, help="corpus name of the copy (the `corpus` column)")
    parser.add_argument("--power", type=float, default=1.5)
    parser.add_argument("--low", type=float, default=None, help="lowest MOS of the source scale (default 1)")
    parser.add_argument("--high", type=float, default=None, help="highest MOS of the source scale (default 5)")
    parser.add_argument("--scale", type=float, default=100.0, help="top of the new scale (default 100)")
    parser.add_argument("--max-level", type=int, default=None,
                        help="keep only rows with distortion level <= N (and rows without a level)")
    parser.add_argument("--min-mos", type=float, default=None, help="keep only rows whose source MOS >= X")
    parser.add_argument("--own-range", action="store_true",
                        help="low/high = the kept rows' lowest/highest MOS (the copy runs from 0 to --scale)")
    parser.add_argument("--overwrite", action="store_true")
    args = parser.parse_args(argv)
    try:
        out = rescale_corpus(args.source, args.out, args.name, power=args.power, low=args.low, high=args.high,
                             scale=args.scale, overwrite=args.overwrite, max_level=args.max_level,
                             min_mos=args.min_mos, own_range=args.own_range)
    except (ValueError, OSError) as error:
        print(f"rescale_mos: error: {error}", file=sys.stderr)
        return 1
    print(f"rescale_mos: wrote {out} (corpus {args.name})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
