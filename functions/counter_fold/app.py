"""DynamoDB stream -> the counters' fold: each counters shard a batch put deltas in has them
folded into its base (orderhub.store.counters.fold_batch; docs/data-model.md, "Counters")."""

from __future__ import annotations

from orderhub.kernel import coldstart

# The cold start's imports, without the garbage collector; then frozen out of its full collections
# (kernel/coldstart.py, docs/architecture.md "Cold start").
with coldstart.loading():
    from aws_lambda_powertools import Logger

    from orderhub.kernel import correlation
    from orderhub.store import counters

logger = Logger()


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict, context) -> dict:
    correlation.begin(context=context)  # one per batch (each change's own id is on its record)
    return counters.fold_batch(event)
