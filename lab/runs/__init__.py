"""Run directories: results/<run-id>/ as every lab command writes them (meta.json, the run's
summary.json, its raw files), and as the report reads them back (docs/METHOD.md, Results and
report)."""
