import pytest

from orderhub.domain.status import STATUSES, TRANSITIONS, TransitionRefused, allowed_actions, next_status


def test_every_transition_uses_known_statuses():
    for (src, _action), dst in TRANSITIONS.items():
        assert src in STATUSES and dst in STATUSES


def test_terminal_states_allow_nothing():
    assert allowed_actions("cancelled") == []
    assert allowed_actions("deleted") == []


def test_refusal_names_status_and_allowed_actions():
    with pytest.raises(TransitionRefused) as exc:
        next_status("processing", "delete")
    body = exc.value.to_body()["error"]
    assert exc.value.status == 409
    assert body["status"] == "processing"
    assert "confirm" not in body["allowed_actions"] and "cancel" in body["allowed_actions"]


def test_delete_only_before_work_starts():
    assert next_status("pending", "delete") == "deleted"
    assert next_status("new", "delete") == "deleted"
    for s in ("processing", "shipped", "on_hold", "cancelled", "closed"):
        with pytest.raises(TransitionRefused):
            next_status(s, "delete")
