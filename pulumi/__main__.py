"""Silo's Pulumi program: the platform stack, or one tenant's stack (`silo:role`).

One project, two kinds of stack (provisioning/aws/layout.py): `<environment>` holds the
platform (network, load balancers, cluster, alarm topic) and `<environment>.<slug>` holds one
tenant, reading the platform's outputs through a StackReference. `silo deploy` drives them
(docs/operations/deploying.md). Config: see Pulumi.example.yaml.
"""

from pathlib import Path

from provisioning.aws import layout, programs

settings = programs.read_settings(Path(__file__).resolve().parent)
if settings.role == layout.PLATFORM:
    programs.platform(settings)
else:
    programs.tenant(settings)
