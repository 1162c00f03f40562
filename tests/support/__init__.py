"""What every test of a running service needs, in one place:

- `env`: the environment a test service runs with (`service_env`, `process_env`), `ADMIN_KEY`;
- `process`: `python -m service` as a subprocess, its log in a file (`spawned_service`,
  `run_service`);
- `waiting`: `eventually(predicate)`, the one polling loop;
- `databases`: fresh databases copied from a template migrated once per session;
- `net`: free ports and the local S3 and clamd (provisioning/local's, imported here only).
"""
