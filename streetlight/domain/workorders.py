"""The work-order ledger's vocabulary (台账, 登记 → 销号): states, steps, labels, deadlines kept.

An order moves registered → dispatched → repaired → verified → closed. People take three of
the steps (dispatch, repaired, close); the controller takes "verified" itself, once telemetry
has shown the asset healthy after the repair, so a crew cannot close an order for a lamp that
is still dark. Every step is checked here, by whoever takes it (the CLI, the API, the
controller), so the rules are the same on every path.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from streetlight.errors import StreetlightError

CONTROLLER = "controller"  # `by` of the controller's own steps


class LedgerError(StreetlightError):
    """A step the ledger refuses; the message names the order and why."""


class OrderState(StrEnum):
    REGISTERED = "registered"  # 登记: opened by the controller
    DISPATCHED = "dispatched"  # a crew is sent
    REPAIRED = "repaired"  # the crew says it is fixed
    VERIFIED = "verified"  # telemetry agrees, for verify_s
    CLOSED = "closed"  # 销号


ESCALATED = "escalated"  # a transition, not a state: the order went past its deadline
COMMENT = "comment"  # a transition, not a state: a note, who wrote it, when
STATES = tuple(OrderState)
OPEN_STATES = (OrderState.REGISTERED, OrderState.DISPATCHED, OrderState.REPAIRED)
# each step, the state it must be taken from
BEFORE: dict[OrderState, OrderState] = {
    OrderState.DISPATCHED: OrderState.REGISTERED,
    OrderState.REPAIRED: OrderState.DISPATCHED,
    OrderState.VERIFIED: OrderState.REPAIRED,
    OrderState.CLOSED: OrderState.VERIFIED,
}
PEOPLE_STEPS = {"dispatch": OrderState.DISPATCHED, "repaired": OrderState.REPAIRED,
                "close": OrderState.CLOSED}  # fmt: skip
_WHAT_FIRST = {
    OrderState.REGISTERED: "dispatch it first",
    OrderState.DISPATCHED: "mark it repaired first",
    OrderState.REPAIRED: "its repair is not verified yet: the asset must report healthy first",
}


def order_label(order_id: int) -> str:
    return f"wo-{order_id}"


def parse_order_id(text: str) -> int:
    """`wo-7` or `7` -> 7."""
    digits = text.removeprefix("wo-")
    if not digits.isdigit():
        raise LedgerError(f"{text!r} is not a work order id (wo-<number>)")
    return int(digits)


def check_step(order_id: int, state: str, step: OrderState) -> None:
    """Refuse `step` unless the order is in the state just before it, saying what is missing."""
    required = BEFORE.get(step)
    if required is None:
        raise LedgerError(f"work order {order_label(order_id)}: nobody can make it {step.value}")
    if state == required.value:
        return
    current = OrderState(state)
    if STATES.index(current) < STATES.index(required):
        why = _WHAT_FIRST[current]
    elif current is step:
        why = f"it already is {step.value}"
    else:
        why = f"it is past that: {current.value}"
    raise LedgerError(
        f"work order {order_label(order_id)} is {current.value}: it cannot be {step.value} ({why})"
    )


def overdue(state: str, deadline: datetime, now: datetime) -> bool:
    """Past its deadline and not yet repaired to the field's satisfaction."""
    return now > deadline and state in OPEN_STATES
