"""`python -m collector.store.rollup`."""

from collector.store.rollup.cli import main

raise SystemExit(main())
