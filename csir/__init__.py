"""The shared ground every stage uses: the `csir` CLI root, errors, atomic writes, languages and Hub I/O
(publish targets, local store, serve, dataset loading). It imports nothing from builders, training, evaluation
or model_cards (the import-linter contract in pyproject.toml checks it)."""
