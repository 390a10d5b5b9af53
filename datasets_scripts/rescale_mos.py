"""A copy of a converted corpus whose MOS is put on another scale by a monotone power map, under a new corpus name.

Real corpora rate on different scales (LIVE 0-100, KADID 1-5, ...). To exercise `liqe realign` offline, a second
synthetic corpus is given a LIVE-like scale with a nonlinear, strictly increasing map of its 1-5 target::

    mos_new = scale * ((mos - low) / (high - low)) ** power        (defaults: scale 100, low 1, high 5, power 1.5)

The README's realignment example::

    python -m datasets_scripts.synthetic --out SYN --seed 0
    python -m datasets_scripts.synthetic --out SYN1 --seed 1
    python -m datasets_scripts.rescale_mos SYN1 SYN_LIVE_SCALE --name synthetic_live_scale

Only `mos`, `mos_raw` (set to the new MOS: it is this corpus's own scale) and `corpus` change; the images, ids,
data files and split tables are kept, so every split scheme of the source still applies. The source is not modified.
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


def rescale_corpus(source, destination, name, power=1.5, low=1.0, high=5.0, scale=100.0, overwrite=False):
    import pyarrow as pa
    import pyarrow.parquet as pq

    source, destination = Path(source), Path(destination)
    files = sorted((source / "data").glob("*.parquet"))
    if not files:
        raise ValueError(f"{source}: no data/*.parquet; not a corpus written by datasets_scripts")
    if destination.exists():
        if destination.resolve() == source.resolve():
            raise ValueError(f"{destination}: is the source corpus; give another folder")
        if any(destination.iterdir()):
            if not overwrite:
                raise ValueError(f"{destination}: exists and is not empty (use --overwrite)")
            shutil.rmtree(destination)
    (destination / "data").mkdir(parents=True, exist_ok=True)
    for item in source.iterdir():
        if item.name == "data":
            continue
        (shutil.copytree if item.is_dir() else shutil.copy2)(item, destination / item.name)
    for file in files:
        table = pq.read_table(file)
        missing = [column for column in ("mos", "corpus") if column not in table.column_names]
        if missing:
            raise ValueError(f"{file}: missing column(s) {missing}")
        mos = np.array([np.nan if v is None else v for v in table.column("mos").to_pylist()], dtype=np.float64)
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
        pq.write_table(table, destination / "data" / file.name)
    card = destination / "README.md"
    if card.is_file():
        text = card.read_text(encoding="utf-8")
        note = (f"\n**Rescaled copy** (`python -m datasets_scripts.rescale_mos`): corpus `{name}`, "
                f"`mos = {scale:g} * ((mos_source - {low:g}) / {high - low:g}) ** {power:g}` of the source "
                f"`{source.name}`; images and splits unchanged. The text below describes the source.\n")
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
    parser.add_argument("--low", type=float, default=1.0, help="lowest MOS of the source scale (default 1)")
    parser.add_argument("--high", type=float, default=5.0, help="highest MOS of the source scale (default 5)")
    parser.add_argument("--scale", type=float, default=100.0, help="top of the new scale (default 100)")
    parser.add_argument("--overwrite", action="store_true")
    args = parser.parse_args(argv)
    try:
        out = rescale_corpus(args.source, args.out, args.name, power=args.power, low=args.low, high=args.high,
                             scale=args.scale, overwrite=args.overwrite)
    except (ValueError, OSError) as error:
        print(f"rescale_mos: error: {error}", file=sys.stderr)
        return 1
    print(f"rescale_mos: wrote {out} (corpus {args.name})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
