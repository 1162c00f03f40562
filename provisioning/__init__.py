"""Turns validated tenants into running infrastructure.

`aws/` holds the Pulumi components, `local/` the `silo dev` runner, `smoke/` the smoke test;
`service_env` is the env contract they share, `render` the compose renderer, `cli` the command.
"""
