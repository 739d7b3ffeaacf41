"""The form generator and the destination drafts, as pure functions (no cluster)."""

from __future__ import annotations

import base64
from collections.abc import Sequence

import pytest
from starlette.datastructures import FormData, UploadFile

from destinations import check_destination, get_type
from tests.ui.conftest import SITE_DEFAULT, SITE_OTHER
from ui import drafts, forms
from ui.views import settings as settings_view


def form(**fields: str | Sequence[str]) -> FormData:
    items: list[tuple[str, str | UploadFile]] = []
    for key, value in fields.items():
        name = key.replace("__", ".")
        for v in [value] if isinstance(value, str) else value:
            items.append((name, v))
    return FormData(items)


def test_read_gives_every_kind_its_value_and_leaves_secrets_out_of_values() -> None:
    otlp = get_type("otlphttp")
    values, secrets = forms.read(
        otlp.fields,
        form(
            **{
                "f.OTLP_HTTP_ENDPOINT": "  http://collector:4318  ",
                "f.OTLP_HTTP_HEADERS.k": ["x-team", "", "x-env"],
                "f.OTLP_HTTP_HEADERS.v": ["checkout", "ignored", "prod"],
                "f.OTLP_HTTP_BASIC_AUTH_PASSWORD": "hunter2",
                "f.OTLP_HTTP_CA_PEM": "-----BEGIN-----\n  x\n",
            }
        ),
    )
    assert values["OTLP_HTTP_ENDPOINT"] == "http://collector:4318"
    assert values["OTLP_HTTP_HEADERS"] == "x-team=checkout\nx-env=prod"
    assert values["OTLP_HTTP_INSECURE_SKIP_VERIFY"] == "false"  # an unchecked checkbox is false, not missing
    assert values["OTLP_HTTP_CA_PEM"] == "-----BEGIN-----\n  x\n"  # multiline keeps its whitespace
    assert values["OTLP_HTTP_BASIC_AUTH_USERNAME"] is None
    assert "OTLP_HTTP_BASIC_AUTH_PASSWORD" not in values and secrets == {
        "OTLP_HTTP_BASIC_AUTH_PASSWORD": "hunter2"
    }


def test_an_empty_secret_input_means_keep_the_stored_value() -> None:
    _values, secrets = forms.read(get_type("datadog").fields, form(**{"f.DATADOG_API_KEY": "   "}))
    assert secrets == {}


def test_form_state_never_shows_a_secret_and_lists_key_value_rows() -> None:
    dd = get_type("datadog").field_map()
    state = forms.FormState(values={"DATADOG_API_KEY": "leaked?", "DATADOG_SITE": None})
    assert state.value(dd["DATADOG_API_KEY"]) == ""
    assert state.value(dd["DATADOG_SITE"]) == SITE_DEFAULT  # the default
    headers = get_type("otlphttp").field_map()["OTLP_HTTP_HEADERS"]
    rows = forms.FormState(values={"OTLP_HTTP_HEADERS": "a=1\nb=2"}).pairs(headers)
    assert rows[:2] == [("a", "1"), ("b", "2")] and rows[2:] == [("", "")] * forms.KEY_VALUE_ROWS


def test_show_if_and_signals_decide_relevance_like_the_checker() -> None:
    otlp = get_type("otlphttp").field_map()
    password = otlp["OTLP_HTTP_BASIC_AUTH_PASSWORD"]
    assert not forms.relevant(password, {"OTLP_HTTP_BASIC_AUTH_USERNAME": None}, ["traces"])
    assert forms.relevant(password, {"OTLP_HTTP_BASIC_AUTH_USERNAME": "me"}, ["traces"])
    assert forms.show_if_json(password) == '{"field":"OTLP_HTTP_BASIC_AUTH_USERNAME","negate":false}'
    with_signals = [
        (t, f) for t in (get_type(n) for n in ("signoz", "loki", "elasticsearch")) for f in t.fields
    ]
    for _type, f in with_signals:
        if f.signals:
            assert not forms.relevant(f, {}, [s for s in ("traces", "metrics", "logs") if s not in f.signals])


def test_redact_masks_every_secret_value() -> None:
    text = "POST https://x.example/?token=abcd1234 refused (abcd1234)"
    assert forms.redact(text, ["abcd1234", "", "ab"]) == "POST https://x.example/?token=•••• refused (••••)"


def test_a_valid_draft_is_exactly_what_the_controllers_accept() -> None:
    dd = get_type("datadog")
    draft = drafts.read_draft(
        dd, form(name="prod", signals=["traces", "logs"], **{"f.DATADOG_SITE": SITE_OTHER,
                                                             "f.DATADOG_API_KEY": "k"})
    )  # fmt: skip
    drafts.check(draft)
    assert draft.errors == {}
    assert draft.data() == {"DATADOG_SITE": SITE_OTHER} and draft.signals == ["traces", "logs"]
    check_destination(draft.model(), secret_keys=draft.secret_keys())  # does not raise
    assert draft.secret_data({}) == {"DATADOG_API_KEY": base64.b64encode(b"k").decode()}


def test_every_problem_is_named_by_its_field() -> None:
    dd = get_type("datadog")
    draft = drafts.check(
        drafts.read_draft(dd, form(name="-bad-", signals="traces", **{"f.DATADOG_SITE": "x"}))
    )
    assert set(draft.errors) == {"name", "DATADOG_SITE", "DATADOG_API_KEY"}
    assert draft.errors["DATADOG_API_KEY"] == "Required."
    assert "expected one of" in draft.errors["DATADOG_SITE"]


def test_stored_secret_keys_satisfy_required_secret_fields() -> None:
    dd = get_type("datadog")
    draft = drafts.read_draft(dd, form(signals="traces"), name="prod", stored_secret_keys={"DATADOG_API_KEY"})
    assert drafts.check(draft).errors == {}
    stored = {"DATADOG_API_KEY": base64.b64encode(b"old").decode(), "STALE": "eA=="}
    assert draft.secret_data(stored) == {"DATADOG_API_KEY": stored["DATADOG_API_KEY"]}
    assert drafts.connection_secrets(draft, stored) == {"DATADOG_API_KEY": "old"}


def test_hidden_fields_are_not_stored() -> None:
    otlp = get_type("otlphttp")
    draft = drafts.read_draft(
        otlp, form(name="o", signals="traces", **{"f.OTLP_HTTP_ENDPOINT": "http://c:4318"})
    )
    assert "OTLP_HTTP_BASIC_AUTH_USERNAME" not in draft.data()
    assert drafts.check(draft).errors == {}


@pytest.mark.parametrize("kind", ["dropdown", "checkbox", "keyValue", "multiline", "password", "text"])
def test_every_kind_the_catalogue_uses_is_read(kind: str) -> None:
    from destinations import all_types

    fields = [f for t in all_types() for f in t.fields if f.kind == kind]
    assert fields, f"no field of kind {kind}"
    values, _secrets = forms.read(fields[:1], form())
    assert fields[0].name in values or fields[0].secret


def test_settings_errors_map_back_to_their_fields() -> None:
    from api.config import HodegosConfig

    current = settings_view.current_values(HodegosConfig())
    assert current["mode"] == "opt-in" and "kube-system" in (current["ignoredNamespaces"] or "")
    assert settings_view.validate(settings_view.merged({}, current)) == {}
    bad = settings_view.merged({}, {**current, "rollout.maxConcurrent": "zero", "mode": "sometimes"})
    errors = settings_view.validate(bad)
    assert set(errors) == {"rollout.maxConcurrent", "mode"}
    unknown = settings_view.validate({**settings_view.merged({}, current), "someTypo": 1})
    assert "someTypo" in unknown["form"]
    ratio = settings_view.merged(
        {}, {**current, "defaultSampler.name": "always_on", "defaultSampler.argument": "0.5"}
    )
    assert "argument" not in ratio["defaultSampler"]  # hidden by its condition, so not written
