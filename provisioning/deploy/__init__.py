"""`silo deploy`: the platform stack, then tenant stacks in waves (docs/operations/deploying.md).

- `cli`: the command's arguments, and the real Automation API, CloudWatch and ECS behind it;
- `waves`: which stacks go in which wave (pure);
- `progress`: the resume file, `.silo/deploy-<environment>.json` (pure but for reading it);
- `driver`: previews, updates, the canary's watch, stop at the first failure (any workspace);
- `preflight`: applied quotas against what the account uses and the plan adds;
- `migrations`: the one-off ECS task of the new image before a tenant's service rolls;
- `move`: today's single stack onto platform and tenant stacks (`pulumi state move`).
"""
