"""The timeouts a request meets between a client and the service, derived in one place.

Two chains must line up:

- Idle connections. The ALB reuses its connection to a task; if the task closes it first, the
  ALB may send a request on a dead connection and answer 502. So the service's keep-alive must
  outlast the ALB's idle timeout.
- Stopping a task (deploys, scale-in). ECS deregisters the task; the ALB stops sending it new
  requests and waits for in-flight ones up to the deregistration delay, then breaks the
  connections; only then does ECS send SIGTERM, and SIGKILL `stopTimeout` later. An upload still
  running when the delay ends is cut, so the delay is the longest upload a deploy does not
  interrupt (tus uploads resume after that anyway). The service's graceful shutdown must end
  before SIGKILL, so its last requests and the aborts of unfinished multipart uploads run.
"""

from __future__ import annotations

from dataclasses import dataclass

# The service's keep-alive (SILO_KEEP_ALIVE_SECONDS, uvicorn's `timeout_keep_alive`): the stack
# sets it through the env contract; the service's own default is the same (a test checks).
SERVICE_KEEP_ALIVE_SECONDS = 65
# Fargate's ceiling for a container's stopTimeout.
FARGATE_MAX_STOP_TIMEOUT = 120
# Room between two timeouts that must be ordered (clock skew, the time to act on a signal).
MARGIN_SECONDS = 5
# How long a deploy lets in-flight uploads finish: the ALB's default. Draining ends as soon as a
# task has no request in flight, so an idle tenant's deploy does not wait for it.
DRAIN_SECONDS = 300


@dataclass(frozen=True)
class Timeouts:
    alb_idle: int  # the load balancer's idle_timeout
    service_keep_alive: int  # uvicorn's timeout_keep_alive (the service's own value)
    deregistration_delay: int  # the target group's
    stop_timeout: int  # the container's stopTimeout
    shutdown: int  # SILO_SHUTDOWN_TIMEOUT_SECONDS: uvicorn's graceful shutdown

    @property
    def longest_uninterrupted_upload(self) -> int:
        """Seconds an upload in flight when a deploy starts may still take."""
        return self.deregistration_delay


def derive(
    *,
    service_keep_alive: int = SERVICE_KEEP_ALIVE_SECONDS,
    drain: int = DRAIN_SECONDS,
    stop_timeout: int = FARGATE_MAX_STOP_TIMEOUT,
) -> Timeouts:
    alb_idle = service_keep_alive - MARGIN_SECONDS
    shutdown = stop_timeout - MARGIN_SECONDS
    if alb_idle < 1 or shutdown < 1:
        raise ValueError("timeouts too short to leave a margin")
    if not 0 <= drain <= 3600:
        raise ValueError("the deregistration delay is 0-3600 s")
    if stop_timeout > FARGATE_MAX_STOP_TIMEOUT:
        raise ValueError(f"Fargate allows a stopTimeout of {FARGATE_MAX_STOP_TIMEOUT} s at most")
    return Timeouts(
        alb_idle=alb_idle,
        service_keep_alive=service_keep_alive,
        deregistration_delay=drain,
        stop_timeout=stop_timeout,
        shutdown=shutdown,
    )


TIMEOUTS = derive()
