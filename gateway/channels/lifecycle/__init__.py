"""Customer lifecycle milestones, one row per customer, kept current as events arrive.

Importing this package registers the mapper events that feed it (see :mod:`.jobs`), so any
process that opens customers or writes transactions keeps milestones current.
"""

from gateway.channels.lifecycle import jobs  # noqa: F401  (registers the mapper events)
