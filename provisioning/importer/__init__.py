"""`silo import`: the migration tool. `cli` (arguments), `runner` (one run: plan, workers,
report), `sources` (a directory) and `pack` (a Pack deployment), `taxonomy_map` (the source's
names onto the tenant's taxonomy), `client` (the tenant's API: direct uploads and tus),
`journal` (what a rerun continues from), `progress` (bar or plain lines)."""
