# coding=utf-8
# Copyright 2026 The liqe authors.
"""`liqe space push ORG/NAME [--model ORG/MODEL]`: publish the Gradio Space (the repository's `space/` folder).

Creates the Space (`HfApi.create_repo(repo_type="space", space_sdk="gradio", exist_ok=True)`), and uploads the
folder with `upload_folder`. With --model, the Space's README lists that model (`models:`) and the Space
variable LIQE_MODEL, which app.py reads, is set to it. Needs a Hugging Face token (`hf auth login`, HF_TOKEN or
--token). Not part of the Hub remote code.
"""

import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

DEFAULT_SPACE_DIR = Path(__file__).resolve().parent.parent / "space"
REQUIRED_FILES = ("app.py", "requirements.txt", "README.md")
# Never uploaded: caches and what a local run leaves behind.
IGNORE_PATTERNS = ["__pycache__/*", "*.pyc", ".gradio/*", "flagged/*", "*.pyi", ".DS_Store"]
REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9][A-Za-z0-9_.-]*$")


def add_parser(subparsers):
    space = subparsers.add_parser("space", help="publish the Gradio demo as a Hugging Face Space",
                                  description="Publish the Gradio demo (the space/ folder) as a Hugging Face Space.")
    actions = space.add_subparsers(dest="space_command", metavar="ACTION")
    actions.required = True
    push = actions.add_parser("push", help="create or update the Space and upload space/",
                              description=__doc__.split("\n\n")[1])
    push.add_argument("repo_id", metavar="ORG/NAME", help="the Space's id")
    push.add_argument("--model", metavar="ORG/MODEL",
                      help="Hub id of the LIQE model the Space serves (README models: and the LIQE_MODEL variable)")
    push.add_argument("--space-dir", default=str(DEFAULT_SPACE_DIR), metavar="DIR",
                      help="the Space's folder (default: this repository's space/)")
    push.add_argument("--private", action="store_true", help="create the Space private")
    push.add_argument("--token", help="Hugging Face token (default: the logged-in one / HF_TOKEN)")
    push.add_argument("--commit-message", default="Update the LIQE Space", help="commit message of the upload")
    return space


def _check_hub_id(value, what):
    from .cli import UsageError

    if not REPO_ID.match(value or ""):
        raise UsageError(f"{what} must be a Hugging Face Hub id ORG/NAME, got {value!r}")


def set_card_models(readme_text, models):
    """The Space card with `models:` in its YAML front matter replaced by `models` (other keys kept, in order)."""
    import yaml

    if not readme_text.startswith("---"):
        raise ValueError("the Space's README.md has no YAML front matter")
    _, front, body = readme_text.split("---", 2)
    card = yaml.safe_load(front) or {}
    card["models"] = list(models)
    dumped = yaml.safe_dump(card, sort_keys=False, allow_unicode=True, default_flow_style=False)
    return f"---\n{dumped}---{body}"


def stage_space(space_dir, model=None):
    """A temporary copy of the Space folder as it will be uploaded (card updated for --model); returns its path."""
    from .cli import UsageError

    space_dir = Path(space_dir)
    missing = [name for name in REQUIRED_FILES if not (space_dir / name).is_file()]
    if missing:
        raise UsageError(f"{space_dir} is not a Space folder: missing {', '.join(missing)}")
    staged = Path(tempfile.mkdtemp(prefix="liqe-space-")) / "space"
    shutil.copytree(space_dir, staged, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".gradio", "flagged"))
    if model is not None:
        readme = staged / "README.md"
        readme.write_text(set_card_models(readme.read_text(encoding="utf-8"), [model]), encoding="utf-8")
    return staged


def push(repo_id, space_dir=DEFAULT_SPACE_DIR, model=None, private=False, token=None,
         commit_message="Update the LIQE Space"):
    """Create (or reuse) the Space `repo_id` and upload `space_dir`; returns the Space's URL."""
    from huggingface_hub import HfApi

    _check_hub_id(repo_id, "the Space id")
    if model is not None:
        _check_hub_id(model, "--model (a Space cannot read a local folder)")
    staged = stage_space(space_dir, model)
    try:
        api = HfApi(token=token)
        url = api.create_repo(repo_id, repo_type="space", space_sdk="gradio", private=private, exist_ok=True)
        if model is not None:
            api.add_space_variable(repo_id, "LIQE_MODEL", model, description="LIQE model the Space serves")
        api.upload_folder(folder_path=str(staged), repo_id=repo_id, repo_type="space",
                          commit_message=commit_message, ignore_patterns=IGNORE_PATTERNS)
    finally:
        shutil.rmtree(staged.parent, ignore_errors=True)
    return str(url)


def run(args):
    """`liqe space push`; exit status 0, 1 when the Hub refused or could not be reached, 2 for usage errors."""
    from .cli import UsageError

    try:
        url = push(args.repo_id, args.space_dir, args.model, args.private, args.token, args.commit_message)
    except UsageError:
        raise
    except Exception as error:  # no token, refused by the Hub, no network (OSError / httpx errors), bad card
        print(f"liqe space: error: could not publish the Space {args.repo_id}: {type(error).__name__}: {error}",
              file=sys.stderr)
        return 1
    print(f"published {url}" + (f" (model {args.model})" if args.model else ""), file=sys.stderr)
    return 0


__all__ = ["add_parser", "run", "push", "stage_space", "set_card_models"]
