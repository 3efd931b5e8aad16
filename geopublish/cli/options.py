"""Options shared by several commands."""

from __future__ import annotations

import click

ids_argument = click.argument("ids", nargs=-1, metavar="[ID]...")
force_option = click.option(
    "--force", is_flag=True, help="Publish even when a quality gate refuses (knowingly)."
)
host_option = click.option("--host", default=None, help="Address to bind [127.0.0.1].")
port_option = click.option("--port", type=int, default=None, help="Port to bind [5000].")
workers_option = click.option("--workers", type=int, default=None, help="Worker processes [2].")
