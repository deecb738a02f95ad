"""The `rag` command line: build the index, ask, search, serve, evaluate.

`common` holds the apps and the options; each module beside it adds its commands to them.
"""

from __future__ import annotations

import logging
import sys

import typer

from rag.cli import answers, collection, evaluation, service
from rag.cli.common import EXIT_USER_ERROR, app
from rag.errors import RagError

__all__ = ["answers", "app", "collection", "evaluation", "main", "service"]


def main() -> None:
    """Entry point: run the app, turning the project's errors into a message and exit code 2."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    # The project's own progress and start-up messages; other libraries stay at warnings.
    logging.getLogger("rag").setLevel(logging.INFO)
    try:
        # Without standalone mode click returns an Exit's code instead of raising it.
        code = app(standalone_mode=False)
    except RagError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_USER_ERROR)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        sys.exit(130)
    except Exception as exc:
        import click
        from pydantic import ValidationError

        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        if isinstance(exc, ValidationError):
            typer.echo(f"error: invalid setting: {exc}", err=True)
            sys.exit(EXIT_USER_ERROR)
        raise
    sys.exit(code if isinstance(code, int) else 0)
