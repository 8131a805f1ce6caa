"""Which failures are worth waiting out, and which make a record unprocessable.

A *transient* failure is the world, not the record: the broker or the database unreachable, a
timeout, a full disk, a lock.  The pipeline pauses and retries it with backoff, and never
commits meanwhile.  Anything else (a value the database refuses, a record the broker will not
take, a bug) will fail the same way again: the record is dead-lettered instead, so it neither
wedges its partition nor disappears.
"""

from __future__ import annotations

import asyncio

from sqlalchemy import exc as sa


def is_transient(exc: BaseException) -> bool:
    if isinstance(exc, ConnectionError | TimeoutError | asyncio.TimeoutError):
        return True
    if isinstance(exc, sa.DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, sa.OperationalError | sa.InterfaceError | sa.DisconnectionError):
        return True  # unreachable, locked, disk full, server restarting
    if isinstance(exc, sa.TimeoutError):
        return True  # connection pool exhausted
    if isinstance(exc, OSError):
        return True  # ENOSPC, EIO: the disk, not the record
    return _kafka_transient(exc)


def _kafka_transient(exc: BaseException) -> bool:
    """aiokafka's and kafka-python's errors say themselves whether a retry may succeed."""
    from aiokafka import errors as aio
    from kafka import errors as kp

    too_large = (aio.MessageSizeTooLargeError, aio.RecordTooLargeError, kp.MessageSizeTooLargeError)
    if isinstance(exc, too_large):
        return False
    if isinstance(exc, aio.KafkaConnectionError | aio.KafkaTimeoutError | aio.NoBrokersAvailable):
        return True
    if isinstance(exc, kp.KafkaConnectionError | kp.KafkaTimeoutError):
        return True
    if isinstance(exc, aio.KafkaError | kp.KafkaError):
        return bool(getattr(exc, "retriable", False))
    return False
