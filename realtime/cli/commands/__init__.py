"""One module per subcommand. Each exposes ``register(subparsers)`` and ``run(args) -> int``.

Modules here import heavy dependencies (torch, onnxruntime, av) inside ``run`` so that
``realtime --help`` stays fast and torch stays optional for the runtime commands.
"""
