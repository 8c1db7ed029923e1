"""Transactional outbox and job workers (DESIGN §2).

A state change and the job that follows it are written in one transaction (:func:`enqueue`), so a
job exists exactly when its cause committed. Workers claim due jobs under a lease; a handler's
effects and the job's completion commit together; failures back off and finally dead-letter.
"""

from gateway.jobs.queue import enqueue
from gateway.jobs.registry import JobContext, job_handler

__all__ = ["JobContext", "enqueue", "job_handler"]
