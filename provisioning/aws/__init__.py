"""The Pulumi components of a stack: the shared platform, one deployment per tenant, and the
pure derivations they use (IAM documents, the container definition, the subnet plan)."""
