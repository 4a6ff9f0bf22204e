"""``python -m mtad_env`` is the ``mtad-env`` command."""

from mtad_env.cli import main

raise SystemExit(main())
