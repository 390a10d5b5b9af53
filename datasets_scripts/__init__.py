"""Converters from the official releases of image-quality corpora to Hugging Face Datasets.

They need the `datasets` extra (`pip install -e '.[datasets]'`: datasets, pyyaml, scipy, openpyxl, xlrd,
scikit-image). Run as a program (`python -m datasets_scripts[.<corpus>]`) without it, they say so in one line
instead of a traceback.
"""

import sys

EXTRA_INSTALL = "pip install -e '.[datasets]'"
# Top-level modules the `datasets` extra of setup.cfg provides (pyarrow and pandas come with datasets).
EXTRA_MODULES = {"datasets", "pyarrow", "pandas", "yaml", "scipy", "openpyxl", "xlrd", "skimage"}


def _one_line_for_a_missing_extra(previous_hook):
    def hook(kind, error, traceback):
        missing = (getattr(error, "name", None) or "").split(".")[0]
        if issubclass(kind, ModuleNotFoundError) and missing in EXTRA_MODULES:
            print(f"datasets_scripts: error: the corpus tools need the `datasets` extra ({missing} is not installed): "
                  f"{EXTRA_INSTALL}", file=sys.stderr)
            return  # the interpreter still exits with status 1
        previous_hook(kind, error, traceback)

    return hook


# Python sets sys.argv[0] to "-m" while it locates the module of `python -m datasets_scripts...`: the hook is
# installed only for those programs, never for a process that merely imports the package.
if sys.argv[:1] == ["-m"]:
    sys.excepthook = _one_line_for_a_missing_extra(sys.excepthook)
