"""The request timeouts, derived in one place (`provisioning.timeouts`), and what the stack and
the service actually use."""

from __future__ import annotations

import json

import pytest

from provisioning import timeouts
from provisioning.timeouts import TIMEOUTS
from service import settings
from service.app import server_config
from service.http import server
from service.settings import DEFAULT_SHUTDOWN_TIMEOUT_SECONDS
from tests.provisioning.pulumi_harness import run_program
from tests.provisioning.test_pulumi_program import PACK, catalogue_file


def test_the_alb_gives_up_on_an_idle_connection_before_the_service_does():
    assert TIMEOUTS.alb_idle < TIMEOUTS.service_keep_alive
    assert TIMEOUTS.alb_idle == 60


def test_the_graceful_shutdown_ends_before_sigkill():
    assert TIMEOUTS.shutdown < TIMEOUTS.stop_timeout <= timeouts.FARGATE_MAX_STOP_TIMEOUT
    # The service's own default (25 s) would leave most of the stop timeout unused.
    assert TIMEOUTS.shutdown > DEFAULT_SHUTDOWN_TIMEOUT_SECONDS


def test_a_deploy_lets_uploads_of_five_minutes_finish():
    assert TIMEOUTS.longest_uninterrupted_upload == TIMEOUTS.deregistration_delay == 300


@pytest.mark.parametrize(
    "kwargs", [{"service_keep_alive": 5}, {"stop_timeout": 121}, {"drain": 3601}]
)
def test_impossible_sets_are_refused(kwargs):
    with pytest.raises(ValueError):
        timeouts.derive(**kwargs)


def test_the_derivation_follows_the_service_keep_alive():
    assert timeouts.derive(service_keep_alive=75).alb_idle == 70


def test_the_service_really_keeps_connections_alive_that_long():
    """uvicorn's settings as the service's own start-up code builds them, not a copy."""
    base = {
        "SILO_TENANT": "pack",
        "DATABASE_URL": "postgresql://silo@127.0.0.1/silo",
        "S3_BUCKET": "silo-test-pack",
        "AWS_REGION": "eu-west-1",
        "SILO_ADMIN_KEY": "x" * 32,
        "SILO_SCAN": "off",
    }
    default = server.uvicorn_config(None, server_config(settings.from_environ(base)))
    assert default.timeout_keep_alive == timeouts.SERVICE_KEEP_ALIVE_SECONDS
    stack = settings.from_environ(
        {**base, "SILO_KEEP_ALIVE_SECONDS": "75", "SILO_SHUTDOWN_TIMEOUT_SECONDS": "7"}
    )
    config = server.uvicorn_config(None, server_config(stack))
    assert config.timeout_keep_alive == 75
    assert config.timeout_graceful_shutdown == 7  # so SILO_SHUTDOWN_TIMEOUT_SECONDS governs it


def test_the_stack_uses_the_derived_set(tmp_path):
    run = run_program(catalogue_file(tmp_path, PACK))
    assert (
        run.named("silo-test-alb", "aws:lb/loadBalancer:LoadBalancer").inputs["idleTimeout"]
        == TIMEOUTS.alb_idle
    )
    tg = run.named("pack-tg").inputs
    assert tg["deregistrationDelay"] == TIMEOUTS.deregistration_delay
    (container,) = json.loads(run.named("pack-task").inputs["containerDefinitions"])
    assert container["stopTimeout"] == TIMEOUTS.stop_timeout
    env = {e["name"]: e["value"] for e in container["environment"]}
    assert env["SILO_SHUTDOWN_TIMEOUT_SECONDS"] == str(TIMEOUTS.shutdown)
    assert env["SILO_KEEP_ALIVE_SECONDS"] == str(TIMEOUTS.service_keep_alive)
