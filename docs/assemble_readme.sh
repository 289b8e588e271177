#!/usr/bin/env bash
# Maintainer tool: README.md = head + generated settings table + chapters (kept in docs/readme/).
set -euo pipefail
cd "$(dirname "$0")/.."
{
  cat docs/readme/00-head.md
  .venv/bin/python -m collector.settings_doc
  for part in docs/readme/[1-9]*.md; do echo; cat "$part"; done
} > README.md
