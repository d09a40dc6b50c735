"""The ``noisylab`` command line: parse, call the library, print. No logic lives here."""

from __future__ import annotations

import sys

import click

from noisylab import __version__
from noisylab.errors import NoisylabError


class _Group(click.Group):
    """A click group that turns a ``NoisylabError`` into one line and exit code 2."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except NoisylabError as err:
            click.echo(f"error: {err}", err=True)
            sys.exit(2)
        except KeyboardInterrupt:
            click.echo("interrupted; files already written are kept", err=True)
            sys.exit(130)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="noisylab")
def cli() -> None:
    """Learn image classifiers from noisy labels, and find out how the labels are wrong first.

    \b
    Typical use:
      noisylab data list                      which data sources are here
      noisylab audit mnistTask3 --root DIR    what is wrong with these labels
      noisylab train --data mnistTask3 --loss auto
    """


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="noisylab")


if __name__ == "__main__":
    main()
