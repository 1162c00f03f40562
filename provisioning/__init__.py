"""Turns validated tenants into running infrastructure: Pulumi components and the local runner."""
