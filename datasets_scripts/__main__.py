"""``python -m datasets_scripts <corpus> --root ... --out ...``: the converters under one command.

``synthetic`` builds the embedded corpus instead of converting a release: it takes ``--out`` (and its
own options, ``--help``) but no ``--root``.
"""

import importlib
import sys

CONVERTERS = ("live", "csiq", "kadid10k", "bid", "clive", "koniq10k", "spaq", "tid2013", "agiqa3k", "synthetic")


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] not in CONVERTERS:
        print(f"usage: python -m datasets_scripts {{{','.join(CONVERTERS)}}} --root DIR --out DIR [options]", file=sys.stderr)
        print("       python -m datasets_scripts synthetic --out DIR [options]   (built offline, no --root)", file=sys.stderr)
        print("       python -m datasets_scripts <corpus> --help   for the options", file=sys.stderr)
        return 2
    return importlib.import_module(f"datasets_scripts.{argv[0]}").main(argv[1:])


if __name__ == "__main__":
    sys.exit(main())
