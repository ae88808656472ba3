"""The service checks its own responses against the CDS Hooks invariants.

``check_response`` lists every violation in a serialised response; ``check_card``
does it for one card. The HTTP layer drops (and logs) an offending card before
sending; the tests fail on any violation. The card format is the wire models'
(``cds_service.wire``): a card must read back as a ``wire.Card`` and a response as a
``wire.HookResponse``, and the codes and the summary limit checked here are theirs.
Checked besides (cds-hooks.md, Cards), with a readable message each:

- summary present, one line, under 140 characters (cds-hooks_2.0@83);
- no ``null`` and no empty string, array or object anywhere, except ``cards: []`` (@3);
- a uuid on every card and every suggestion;
- indicator info | warning | critical (@88); source with a label (@90, @105);
- selectionBehavior present with suggestions (@96), and with ``at-most-one`` at most
  one suggestion recommended;
- actions: type create | update | delete (@127) with a description (@128); create and
  update carry a resource (@131, @132); delete uses ``resourceId``, never ``resource``
  (@133, @134);
- overrideReasons are Codings with system, code and display (@136, @219);
- links have label, url and type absolute | smart; appContext only on smart links (@146).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, get_args

from pydantic import BaseModel, ValidationError

from cds_service.wire import (
    MAX_SUMMARY_CHARS,
    ActionType,
    Card,
    HookResponse,
    Indicator,
    Link,
    SelectionBehavior,
)

INDICATORS = frozenset(Indicator)
SELECTION_BEHAVIORS = frozenset(SelectionBehavior)
ACTION_TYPES = frozenset(ActionType)
LINK_TYPES = frozenset(get_args(Link.model_fields["type"].annotation))
MAX_SUMMARY = MAX_SUMMARY_CHARS


def check_response(payload: Any) -> list[str]:
    """Every invariant violation in a hook response, as readable messages."""
    if not isinstance(payload, dict) or not isinstance(payload.get("cards"), list):
        return ["response must be an object with a cards array"]
    problems = [f"{path}: null or empty" for path in _empty_elements(payload, "$")]
    for index, card in enumerate(payload["cards"]):
        problems.extend(f"cards[{index}]: {message}" for message in check_card(card))
    if not problems:
        problems.extend(_not_read_as(HookResponse, payload))
    return problems


def check_card(card: Any, *, built_as_card: bool = False) -> list[str]:
    """Violations in one card (empty when the card may be sent).

    ``built_as_card``: the card is the dump of a ``wire.Card`` this service built (the
    model validated it then), so reading it back as one is skipped: it cannot disagree, and
    it cost a fifth of the check. Every other check runs."""
    if not isinstance(card, dict):
        return ["card must be an object"]
    problems = [f"{path}: null or empty" for path in _empty_elements(card, "card")]
    problems.extend(_check_summary(card.get("summary")))
    if not _text(card.get("uuid")):
        problems.append("uuid missing")
    if _code(card.get("indicator")) not in INDICATORS:
        problems.append("indicator must be info, warning or critical")
    source = card.get("source")
    if not isinstance(source, dict) or not _text(source.get("label")):
        problems.append("source with a label is required")
    problems.extend(_check_suggestions(card))
    problems.extend(_check_override_reasons(card.get("overrideReasons")))
    problems.extend(_check_links(card.get("links")))
    if not problems and not built_as_card:
        problems.extend(_not_read_as(Card, card))
    return problems


def _not_read_as(model: type[BaseModel], payload: dict[str, Any]) -> list[str]:
    """What the wire model refuses in a payload the checks above let through (a field it
    does not know, a wrong type): what is sent must read back as the model it came from."""
    try:
        model.model_validate(payload)
    except ValidationError as error:
        return [
            f"{'.'.join(str(step) for step in item['loc']) or '$'}: {item['msg']}"
            for item in error.errors(include_url=False, include_input=False)
        ]
    return []


def _check_summary(summary: Any) -> Iterator[str]:
    if not _text(summary):
        yield "summary missing"
    elif len(summary) >= MAX_SUMMARY:
        yield f"summary is {len(summary)} characters; it must be under {MAX_SUMMARY}"
    elif "\n" in summary:
        yield "summary must be one line"


def _check_suggestions(card: dict[str, Any]) -> Iterator[str]:
    suggestions = card.get("suggestions")
    if suggestions is None:
        if "selectionBehavior" in card:
            yield "selectionBehavior without suggestions"
        return
    if not isinstance(suggestions, list):
        yield "suggestions must be an array"
        return
    behavior = _code(card.get("selectionBehavior"))
    if behavior not in SELECTION_BEHAVIORS:
        yield "selectionBehavior (at-most-one or any) is required with suggestions"
    recommended = sum(1 for s in suggestions if isinstance(s, dict) and s.get("isRecommended"))
    if behavior == "at-most-one" and recommended > 1:
        yield "at-most-one with more than one recommended suggestion"
    for index, suggestion in enumerate(suggestions):
        if not isinstance(suggestion, dict):
            yield f"suggestions[{index}] must be an object"
            continue
        if not _text(suggestion.get("label")):
            yield f"suggestions[{index}]: label missing"
        if not _text(suggestion.get("uuid")):
            yield f"suggestions[{index}]: uuid missing"
        for action_index, action in enumerate(suggestion.get("actions") or ()):
            where = f"suggestions[{index}].actions[{action_index}]"
            yield from (f"{where}: {message}" for message in _check_action(action))


def _check_action(action: Any) -> Iterator[str]:
    if not isinstance(action, dict):
        yield "action must be an object"
        return
    kind = _code(action.get("type"))
    if kind not in ACTION_TYPES:
        yield "type must be create, update or delete"
    if not _text(action.get("description")):
        yield "description missing"
    if kind == "delete":
        if "resource" in action:
            yield "delete must use resourceId, not resource"
        if not _text(action.get("resourceId")):
            yield "delete needs a resourceId"
    elif kind in {"create", "update"}:
        resource = action.get("resource")
        if not isinstance(resource, dict) or not _text(resource.get("resourceType")):
            yield f"{kind} needs a FHIR resource"


def _check_override_reasons(reasons: Any) -> Iterator[str]:
    if reasons is None:
        return
    if not isinstance(reasons, list):
        yield "overrideReasons must be an array"
        return
    for index, coding in enumerate(reasons):
        if not isinstance(coding, dict) or not all(
            _text(coding.get(field)) for field in ("system", "code", "display")
        ):
            yield f"overrideReasons[{index}] needs system, code and display"


def _check_links(links: Any) -> Iterator[str]:
    if links is None:
        return
    if not isinstance(links, list):
        yield "links must be an array"
        return
    for index, link in enumerate(links):
        if not isinstance(link, dict) or not (_text(link.get("label")) and _text(link.get("url"))):
            yield f"links[{index}] needs label and url"
            continue
        if _code(link.get("type")) not in LINK_TYPES:
            yield f"links[{index}]: type must be absolute or smart"
        if "appContext" in link and link.get("type") != "smart":
            yield f"links[{index}]: appContext is only allowed on smart links"


def _empty_elements(value: Any, path: str) -> Iterator[str]:
    """Paths of null or empty elements; ``cards: []`` at the top level is allowed.

    A walk that builds no path comes first: nearly every response has no such element,
    and naming every element on the way cost most of the check."""
    if _holds_empty(value):
        yield from _empty_paths(value, path)


def _holds_empty(value: Any) -> bool:
    """Whether any element inside ``value`` (not ``value`` itself) is null or empty."""
    pending = [value] if isinstance(value, (dict, list)) else []
    while pending:
        node = pending.pop()
        for item in node.values() if isinstance(node, dict) else node:
            if not item:  # cheap first: only a falsy item can be null or empty (not 0, false)
                if item is None or item in ("", [], {}):
                    return True
            elif isinstance(item, (dict, list)):
                pending.append(item)
    return False


def _empty_paths(value: Any, path: str) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            child = f"{path}.{key}"
            if item is None or item in ("", [], {}):
                if child != "$.cards":
                    yield child
            else:
                yield from _empty_paths(item, child)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            child = f"{path}[{index}]"
            if item is None or item in ("", [], {}):
                yield child
            else:
                yield from _empty_paths(item, child)


def _text(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _code(value: Any) -> str | None:
    """A code element's value if it is a string: an array or object there (unhashable)
    must be reported as a wrong code, not raise TypeError."""
    return value if isinstance(value, str) else None
