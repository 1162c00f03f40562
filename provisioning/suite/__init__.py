"""`silo test`: the test suite's set-up (`plan.py`: what is missing -> which commands; `cli.py`:
the probes, the installs and pytest)."""
