"""The Silo upload API: one running instance serves exactly one tenant."""
