"""What the fake knows of Block Kit: blocks and modals checked as Slack checks them, finding an
element and its options, the `actions` entry a click makes, and the `state.values` a modal
submits, shaped per element type as Slack shapes them."""

from __future__ import annotations

import copy
import json
import time
from typing import Any

from integrations.slack.fake.model import ApiError, FakeError, Json, new_id, plain

MAX_BLOCKS = 50
MAX_TITLE = 24  # modal title, submit and close labels: Slack refuses longer ones
MAX_METADATA = 3000
ONE_OPTION = {"static_select", "radio_buttons", "external_select", "overflow"}
MANY_OPTIONS = {"multi_static_select", "checkboxes"}
SELECTED = {
    "datepicker": "selected_date",
    "timepicker": "selected_time",
    "users_select": "selected_user",
    "conversations_select": "selected_conversation",
    "channels_select": "selected_channel",
    "multi_users_select": "selected_users",
}
REQUIRED = "Please complete this required field."


def find_element(blocks: list[Json], action_id: str, block_id: str | None) -> tuple[str, Json]:
    """The interactive element with that action_id (in an actions block or as an accessory)."""
    for block in blocks:
        if block_id and block.get("block_id") != block_id:
            continue
        elements = block.get("elements", []) if block.get("type") == "actions" else []
        for element in [*elements, block.get("accessory")]:
            if isinstance(element, dict) and element.get("action_id") == action_id:
                return str(block["block_id"]), element
    raise FakeError(f"no element {action_id!r} in the message")


def options_of(element: Json) -> list[Json]:
    groups = [g.get("options", []) for g in element.get("option_groups", [])]
    return [*element.get("options", []), *(o for group in groups for o in group)]


def option_of(element: Json, value: Any) -> Json:
    if isinstance(value, dict):
        return value  # an external_select option, given whole
    for option in options_of(element):
        if option.get("value") == value:
            return option
    raise FakeError(f"no option {value!r} in {element.get('action_id')}")


def action_of(element: Json, block_id: str, value: str | None, selected: str | None) -> Json:
    """The `actions` entry of a block_actions payload for a press on `element`."""
    kind = str(element.get("type"))
    action: Json = {"type": kind, "action_id": element["action_id"], "block_id": block_id}
    action["action_ts"] = f"{time.time():.6f}"
    if kind == "button":
        chosen = element.get("value") if value is None else value
        action.update(text=element.get("text"), **({"value": chosen} if chosen is not None else {}))
        if "style" in element:
            action["style"] = element["style"]
    elif kind in ONE_OPTION:
        action["selected_option"] = option_of(element, selected if selected is not None else value)
    elif value is not None:
        action["value"] = value
    return action


def state_values(view: Json, values: dict[str, dict[str, Any]]) -> Json:
    """`view.state.values`: every input block, with the given value or its initial one."""
    inputs = {str(b["block_id"]): b for b in view.get("blocks", []) if b.get("type") == "input"}
    unknown = set(values) - set(inputs)
    if unknown:
        raise FakeError(f"no input blocks {sorted(unknown)} in the view")
    shaped: Json = {}
    for block_id, block in inputs.items():
        element = block.get("element") or {}
        action_id = str(element.get("action_id", ""))
        given = values.get(block_id, {})
        raw = given[action_id] if action_id in given else initial_of(element)
        shaped[block_id] = {action_id: value_shape(element, raw)}
    return shaped


def initial_of(element: Json) -> Any:
    kind = element.get("type")
    if kind in ONE_OPTION:
        return (element.get("initial_option") or {}).get("value")
    if kind in MANY_OPTIONS:
        return [o.get("value") for o in element.get("initial_options", [])]
    if kind in SELECTED:
        return element.get(SELECTED[kind].replace("selected_", "initial_"))
    return element.get("initial_value")


def value_shape(element: Json, raw: Any) -> Json:
    """One input's state: `{"type": ..., "value" | "selected_option" | ...: ...}`."""
    kind = str(element.get("type"))
    empty = raw is None or raw in ("", [])
    if kind in ONE_OPTION:
        return {"type": kind, "selected_option": None if empty else option_of(element, raw)}
    if kind in MANY_OPTIONS:
        return {"type": kind, "selected_options": [option_of(element, v) for v in raw or []]}
    if kind in SELECTED:
        return {"type": kind, SELECTED[kind]: None if empty else raw}
    return {"type": kind, "value": None if empty else raw}


def shown_value(entry: Json) -> Any:
    """What an input shows for its submitted state (the option's value for a select)."""
    option = entry.get("selected_option")
    if isinstance(option, dict):
        return option.get("value")
    return next((v for k, v in entry.items() if k != "type"), None)


def required_missing(view: Json, shaped: Json) -> dict[str, str]:
    """The errors Slack's client shows, without sending, for empty required inputs."""
    missing = {}
    for block in view.get("blocks", []):
        if block.get("type") == "input" and not block.get("optional"):
            entry = next(iter(shaped[block["block_id"]].values()))
            if all(v in (None, []) for k, v in entry.items() if k != "type"):
                missing[str(block["block_id"])] = REQUIRED
    return missing


def parse_blocks(value: Any, error: str = "invalid_blocks") -> list[Json]:
    """Blocks (a JSON string or a list) with a `block_id` on each, as Slack stores them."""
    if value is None or value == "":
        return []
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise ApiError(error) from None
    if not isinstance(value, list) or len(value) > MAX_BLOCKS:
        raise ApiError(error)
    blocks = copy.deepcopy(value)
    for block in blocks:
        if not isinstance(block, dict) or not isinstance(block.get("type"), str):
            raise ApiError(error)
        block.setdefault("block_id", new_id("", 5))
        elements = block.get("elements", []) if block["type"] == "actions" else []
        for element in [*elements, block.get("element"), block.get("accessory")]:
            if isinstance(element, dict) and element.get("type") not in (None, "image"):
                element.setdefault("action_id", new_id("", 5))  # Slack names unnamed ones
    return blocks


def parse_view(value: Any) -> Json:
    """A modal as views.open takes it; invalid_arguments where Slack refuses one."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise ApiError("invalid_arguments") from None
    if not isinstance(value, dict) or value.get("type") not in ("modal", "home"):
        raise ApiError("invalid_arguments")
    view = copy.deepcopy(value)
    view["blocks"] = parse_blocks(view.get("blocks"), "invalid_arguments")
    if "blocks" not in value or (view["type"] == "modal" and "title" not in view):
        raise ApiError("invalid_arguments")
    labels = [view.get(key) for key in ("title", "submit", "close") if view.get(key)]
    has_input = any(block["type"] == "input" for block in view["blocks"])
    if (
        any(len(plain(label)) > MAX_TITLE for label in labels)
        or len(str(view.get("private_metadata", ""))) > MAX_METADATA
        or (has_input and view["type"] == "modal" and not view.get("submit"))
        or any(
            b["type"] == "input" and not (b.get("label") and b.get("element"))
            for b in view["blocks"]
        )
    ):
        raise ApiError("invalid_arguments")
    return view
