"""`python -m tunefactory ...` runs the `tunefactory` command (the web board's jobs start it this way)."""

from tunefactory.cli import main

raise SystemExit(main())
