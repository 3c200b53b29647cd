"""A stand-in for the person at the Airflow UI: answers Human-in-the-loop requests (Required actions) through the
same handler as the UI's Approve / Reject buttons (the Core API's update_hitl_detail), as a named user.

`dag.test()` (the demo and the tests) keeps a run alive while a task waits for input; this thread answers from
outside the run, as the UI would, and logs what it answered.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Request:
    dag_id: str
    run_id: str
    task_id: str
    map_index: int
    subject: str
    body: str | None
    options: list[str]


def waiting() -> list[Request]:
    """Requests whose task is parked waiting for a person."""
    from airflow.models.hitl import HITLDetail
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from airflow.utils.state import TaskInstanceState
    from sqlalchemy import select

    with create_session() as session:
        rows = session.execute(
            select(TaskInstance.dag_id, TaskInstance.run_id, TaskInstance.task_id, TaskInstance.map_index,
                   HITLDetail.subject, HITLDetail.body, HITLDetail.options)
            .join(HITLDetail, HITLDetail.ti_id == TaskInstance.id)
            .where(TaskInstance.state == TaskInstanceState.AWAITING_INPUT, HITLDetail.responded_at.is_(None))
        ).all()
    return [Request(*row) for row in rows]


def respond(request: Request, option: str, user: str = "operator") -> None:
    """Answer one request as `user`: what the UI's button does (validation, the response row, the task resumed)."""
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser
    from airflow.api_fastapi.core_api.datamodels.hitl import UpdateHITLDetailPayload
    from airflow.api_fastapi.core_api.routes.public.hitl import update_hitl_detail
    from airflow.utils.session import create_session

    with create_session() as session:
        update_hitl_detail(dag_id=request.dag_id, dag_run_id=request.run_id, task_id=request.task_id,
                           update_hitl_detail_payload=UpdateHITLDetailPayload(chosen_options=[option]),
                           user=SimpleAuthManagerUser(username=user, role="admin"), session=session,
                           map_index=request.map_index)


def expire_timed_out() -> None:
    """What the scheduler's sweep does to requests past their response timeout (dag.test runs no scheduler)."""
    from airflow.jobs.job import Job
    from airflow.jobs.scheduler_job_runner import SchedulerJobRunner

    SchedulerJobRunner(job=Job()).check_awaiting_input_timeouts()


class Operator(threading.Thread):
    """Polls for waiting requests and answers each with `decide(request)` (an option, or None to leave it waiting)."""

    def __init__(self, decide: Callable[[Request], str | None], user: str = "operator", poll_s: float = 0.5,
                 on_answer: Callable[[Request, str], None] | None = None) -> None:
        super().__init__(name="hitl-operator", daemon=True)
        self.decide, self.user, self.poll_s, self.on_answer = decide, user, poll_s, on_answer
        self.answered: list[tuple[Request, str]] = []
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.wait(self.poll_s):
            for request in waiting():
                option = self.decide(request)
                if option is None:
                    continue
                respond(request, option, self.user)
                self.answered.append((request, option))
                log.info("%s answered %r to %s / %s: %s", self.user, option, request.dag_id, request.task_id,
                         request.subject)
                if self.on_answer:
                    self.on_answer(request, option)

    def stop(self) -> None:
        self._done.set()
        self.join(timeout=10)

    def __enter__(self) -> Operator:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
