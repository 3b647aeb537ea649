"""`python -m proto_splitter ...` runs the `proto-splitter` command."""

from .cli import main

raise SystemExit(main())
