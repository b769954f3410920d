"""SQS -> background jobs (CSV import and fulfillment, apply item mappings, refresh). One job per
message; a long job continues in a new message before the invocation times out."""

from __future__ import annotations

from orderhub.kernel import coldstart

# The cold start's imports, without the garbage collector; then frozen out of its full collections
# (kernel/coldstart.py, docs/architecture.md "Cold start").
with coldstart.loading():
    from aws_lambda_powertools import Logger

    from orderhub.jobs import runner
    from orderhub.kernel import batch, config, correlation


config.require("cursor_key_arn", why="a job pages through its filter's orders (store/paging.py)")
config.require(
    "cancel_state_machine_arn",
    "modify_state_machine_arn",
    why="a refresh job applies a marketplace cancel or recipient change as a webhook does",
)
logger = Logger()
# A job kind's module (and what it needs) is imported when a job of that kind first runs:
# runner.runner_for, runner.KIND_MODULES.


def record_handler(record: dict, lambda_context=None) -> dict:
    # the last receive of a failing job ends it failed (runner.MAX_RECEIVES)
    correlation.begin(correlation.of_sqs_record(record))  # the request's that made the job
    receives = batch.receive_count(record)
    if lambda_context is None or not hasattr(lambda_context, "get_remaining_time_in_millis"):
        return runner.run(record["body"], receive_count=receives)

    def time_left() -> float:
        return lambda_context.get_remaining_time_in_millis() / 1000

    return runner.run(record["body"], time_left, receive_count=receives)


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict, context) -> dict:
    correlation.begin(context=context)  # each record then begins its own
    return batch.each_record(event, lambda record: record_handler(record, context))
