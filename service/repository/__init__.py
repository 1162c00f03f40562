"""All SQL lives here, one module per table; handlers call these functions with a connection."""
