"""``python -m mtad_env.cli`` is the ``mtad-env`` command."""

from mtad_env.cli.app import main

raise SystemExit(main())
