"""The command line: the parser, one module per subcommand, and the wiring of torch-side code
(models/, export/) into the runtime, which only this layer may import."""

from realtime.cli.main import build_parser, main, run

__all__ = ["build_parser", "main", "run"]
