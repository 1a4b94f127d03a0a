"""Form fields and widgets for long choice lists (a filter of 2,000 services).

Django's `Select` renders one template per option, and `ModelChoiceField` builds a model
instance per option: together about 150 ms of the incident list's time at 2,000 services
(bench/read_paths.py). `FastSelect` writes the same markup in one pass; `NameChoiceField`
reads its options as (id, name) pairs. Both are only read when the form is drawn.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from django import forms
from django.forms.models import ModelChoiceIterator
from django.utils.choices import BaseChoiceIterator
from django.utils.safestring import SafeString, mark_safe

from opsduty.markup import escaped


def _attributes(attrs: dict[str, Any]) -> str:
    """As Django's widget template writes them: in order, True as a bare name, False left
    out (`flatatt` would sort them)."""
    return "".join(
        f" {key}" if value is True else f' {key}="{escaped(value)}"'
        for key, value in attrs.items()
        if value is not False and value is not None
    )


class FastSelect(forms.Select):
    """A single `<select>`, the markup of Django's, its options written without templates."""

    def render(
        self, name: str, value: Any, attrs: dict[str, Any] | None = None, renderer: Any = None
    ) -> SafeString:
        final = {"name": name, **self.build_attrs(self.attrs, attrs)}
        wanted = set(self.format_value(value))
        parts = [f"<select{_attributes(final)}>"]
        chosen = False
        for option_value, label in self.choices:
            if isinstance(label, list | tuple):  # an optgroup
                parts.append(f'\n  <optgroup label="{escaped(option_value)}">')
                for inner_value, inner_label in label:
                    chosen = self._option(parts, inner_value, inner_label, wanted, chosen)
                parts.append("\n  </optgroup>")
            else:
                chosen = self._option(parts, option_value, label, wanted, chosen)
        parts.append("\n</select>")
        return mark_safe("".join(parts))  # noqa: S308 - every value and label is escaped

    @staticmethod
    def _option(parts: list[str], value: Any, label: Any, wanted: set[str], chosen: bool) -> bool:
        text = "" if value is None else str(value)
        selected = not chosen and text in wanted
        mark = " selected" if selected else ""
        parts.append(f'\n  <option value="{escaped(text)}"{mark}>{escaped(label)}</option>')
        return chosen or selected


if TYPE_CHECKING:
    _Iterator = ModelChoiceIterator[Any]
    _ModelChoiceField = forms.ModelChoiceField[Any]
else:  # generic for the type checker only
    _Iterator = ModelChoiceIterator
    _ModelChoiceField = forms.ModelChoiceField


class _PairIterator(_Iterator):
    """The options of a `NameChoiceField`: the empty one, then (id, name) pairs."""

    def __iter__(self) -> Iterator[tuple[Any, Any]]:
        field = self.field
        assert isinstance(field, NameChoiceField)
        if field.empty_label is not None:
            yield ("", field.empty_label)
        yield from self.queryset.values_list("pk", field.label_field)


class NameChoiceField(_ModelChoiceField):
    """A `ModelChoiceField` shown as `label_field` (default `name`) by id, with `FastSelect`;
    the chosen value is still checked against the queryset and cleaned to the instance."""

    iterator = _PairIterator
    widget = FastSelect

    def __init__(self, *args: Any, label_field: str = "name", **kwargs: Any) -> None:
        self.label_field = label_field
        super().__init__(*args, **kwargs)


class SharedChoices(BaseChoiceIterator):
    """Choices read once for many forms of a page (a select per row): Django normalizes a
    list again for every field and widget it is given to, but leaves an iterator as it is."""

    def __init__(self, choices: Iterable[tuple[Any, Any]]) -> None:
        self.choices = list(choices)

    def __iter__(self) -> Iterator[tuple[Any, Any]]:
        return iter(self.choices)
