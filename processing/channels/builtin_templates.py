"""The built-in receive-channel templates: for each source, field -> Jinja2 source.

Every field is rendered on its own in `processing.sandbox.environment` with `payload` as the only
variable, so each template starts by binding the parts of the payload it needs, guarding
against missing keys and wrong types (a missing key is Undefined and falsy; an attribute of
Undefined is an error, hence the `is mapping` guards). Empty output means "not set": the
renderer (`processing.channels.rendering`) supplies the fallback. Sample payloads of each source are
in tests/fixtures/receive_channels/ with the documentation they follow.
"""

from __future__ import annotations

import logging
from types import MappingProxyType
from typing import Final

from processing.channels.models import BaseTemplate
from processing.sandbox.environment import SandboxError, template_check

logger = logging.getLogger(__name__)

_PAYLOAD = "{%- set p = payload if payload is mapping else {} -%}"

# --- generic JSON ---------------------------------------------------------------------------

_GENERIC_DETAILS = "{%- set d = p.description or p.details or p.text or p.body -%}"

GENERIC: Final = {
    "summary": _PAYLOAD
    + "{{ p.title or p.summary or p.message or p.name"
    + " or (payload | json_dumps | truncate(200)) }}",
    "description": _PAYLOAD
    + _GENERIC_DETAILS
    + "{%- if not d -%}"
    + "{%- elif d is mapping or (d is sequence and d is not string) -%}"
    + "{{ d | tojson_pretty }}"
    + "{%- elif d -%}{{ d }}{%- endif -%}",
    "source_url": _PAYLOAD + "{{ p.source_url or p.url or p.link or p.html_url or '' }}",
    "dedup_id": _PAYLOAD
    + "{{ p.dedup_id or p.dedup_key or p.incident_key or p.alert_id or p.id"
    + " or p.fingerprint or '' }}",
    "acknowledge": _PAYLOAD
    + "{{ (p.status | string | lower) in ('acknowledged', 'ack') or p.acknowledged is true }}",
    "resolve": _PAYLOAD
    + "{{ (p.status | string | lower) in ('resolved', 'ok', 'recovered', 'closed')"
    + " or p.resolved is true }}",
    "urgency": _PAYLOAD
    + "{%- set u = (p.urgency or p.severity or p.priority or '') | string | lower -%}"
    + "{{ 'low' if u in ('low', 'info', 'informational', 'warning', 'minor', 'p4', 'p5')"
    + " else 'high' }}",
    "labels": _PAYLOAD
    + "{%- set l = p.labels or p.tags -%}"
    + "{%- if not l -%}"
    + "{%- elif l is mapping -%}{% for k, v in l | dictsort %}{{ k }}={{ v }}\n{% endfor %}"
    + "{%- elif l is string -%}{{ l }}"
    + "{%- elif l is sequence -%}{{ l | join('\n') }}"
    + "{%- endif -%}",
}

# --- Prometheus Alertmanager (webhook_config, payload version 4) ----------------------------

_AM = (
    _PAYLOAD
    + "{%- set cl = p.commonLabels if p.commonLabels is mapping else {} -%}"
    + "{%- set ca = p.commonAnnotations if p.commonAnnotations is mapping else {} -%}"
    + "{%- set alerts = p.alerts if p.alerts is defined and p.alerts is sequence"
    + " and p.alerts is not string else [] -%}"
)

# The summary of an Alertmanager-shaped group (Alertmanager, Grafana Alerting):
# `<name>[: <summary>]`. The name is `commonLabels.alertname`; a group of alerts with
# different names has none there, so it is their distinct names in order ("HighCPU, DiskFull"),
# the first _SUMMARY_NAMES of them cut to _SUMMARY_NAMES_LENGTH characters plus "and N more",
# so that the renderer's cut (SUMMARY_MAX_LENGTH, 1024) leaves room for the summary text;
# `fallback` (a Jinja expression) when no alert has a name. The text is
# `commonAnnotations.summary`, else the summary of the group's only alert.
_SUMMARY_NAMES = 5
_SUMMARY_NAMES_LENGTH = 200


def _group_summary(fallback: str) -> str:
    return (
        _AM
        + "{%- if cl.alertname -%}{%- set name = cl.alertname -%}{%- else -%}"
        + "{%- set names = alerts | select('mapping') | map(attribute='labels')"
        + " | select('mapping') | map(attribute='alertname') | select('string') | select"
        + " | unique(case_sensitive=true) | list -%}"
        + f"{{%- set name = names[:{_SUMMARY_NAMES}] | join(', ')"
        + f" | truncate({_SUMMARY_NAMES_LENGTH}, end='…') -%}}"
        + f"{{%- if names | length > {_SUMMARY_NAMES} -%}}"
        + f"{{%- set name = name ~ ' and ' ~ (names | length - {_SUMMARY_NAMES}) ~ ' more' -%}}"
        + "{%- endif -%}"
        + "{%- endif -%}"
        + "{%- set one = alerts[0] if alerts | length == 1 and alerts[0] is mapping else {} -%}"
        + "{%- set notes = one.annotations if one.annotations is mapping else {} -%}"
        + "{{ name or "
        + fallback
        + " }}"
        + "{%- set text = ca.summary or notes.summary -%}{% if text %}: {{ text }}{% endif %}"
    )


ALERTMANAGER: Final = {
    "summary": _group_summary("'Alertmanager alert'"),
    "description": _AM
    + "{%- if ca.description %}{{ ca.description }}\n\n{% endif -%}"
    + "{%- for a in alerts[:20] if a is mapping -%}"
    + "{%- set an = a.annotations if a.annotations is mapping else {} -%}"
    + "{%- set la = a.labels if a.labels is mapping else {} -%}"
    + "- [{{ a.status }}] {{ an.summary or an.description or la.alertname }}"
    + "{% if la.instance %} ({{ la.instance }}){% endif %}"
    + "{% if a.startsAt %}, since {{ a.startsAt }}{% endif %}\n"
    + "{% endfor -%}"
    + "{%- if alerts | length > 20 %}\n… and {{ alerts | length - 20 }} more{% endif -%}",
    "source_url": _AM
    + "{{ p.externalURL or (alerts[0].generatorURL if alerts and alerts[0] is mapping) or '' }}",
    "dedup_id": _AM + "{{ p.groupKey or '' }}",
    "acknowledge": "",
    "resolve": _AM + "{{ p.status == 'resolved' }}",
    "urgency": _AM
    + "{{ 'high' if (cl.severity | string | lower) in ('critical', 'high', 'page') else 'low' }}",
    "labels": _AM
    + "{%- for k, v in cl | dictsort -%}{{ k }}={{ v | string | replace(',', ' ') }}\n"
    + "{% endfor -%}",
}

# --- Grafana Alerting (webhook contact point, payload version 1) ---------------------------
# Alertmanager's payload plus orgId, title, state and message, and per alert silenceURL,
# dashboardURL, panelURL, values and valueString. One payload per alert group, like
# Alertmanager; `status` is "firing" or "resolved" (`state` says the same: "alerting", "ok").

GRAFANA: Final = {
    "summary": _group_summary("(p.title if p.title is string) or 'Grafana alert'"),
    "description": _AM
    + "{%- if ca.description %}{{ ca.description }}\n\n{% endif -%}"
    + "{%- for a in alerts[:20] if a is mapping -%}"
    + "{%- set an = a.annotations if a.annotations is mapping else {} -%}"
    + "{%- set la = a.labels if a.labels is mapping else {} -%}"
    + "{%- set text = an.summary or an.description -%}"
    + "- [{{ a.status }}] {{ la.alertname }}{% if la.alertname and text %}: {% endif %}{{ text }}"
    + "{% if la.instance %} ({{ la.instance }}){% endif %}"
    + "{% if a.startsAt %}, since {{ a.startsAt }}{% endif %}\n"
    + "{% endfor -%}"
    + "{%- if alerts | length > 20 %}\n… and {{ alerts | length - 20 }} more{% endif -%}"
    + "{%- set cut = p.truncatedAlerts if p.truncatedAlerts is number"
    + " and p.truncatedAlerts is not boolean else 0 -%}"
    + "{%- if cut > 0 %}\n… and {{ cut }} more left out by Grafana{% endif -%}",
    "source_url": _AM
    + "{{ (alerts[0].generatorURL if alerts and alerts[0] is mapping) or p.externalURL or '' }}",
    # One incident per alert group; without a groupKey, the group's labels sorted by name.
    "dedup_id": _AM
    + "{%- if p.groupKey -%}{{ p.groupKey }}"
    + "{%- elif p.groupLabels is mapping -%}{{ '{' }}"
    + "{%- for k, v in p.groupLabels | dictsort(true) -%}"
    + "{{ ', ' if not loop.first }}{{ k }}=\"{{ v }}\""
    + "{%- endfor -%}{{ '}' }}"
    + "{%- endif -%}",
    "acknowledge": "",
    "resolve": _AM + "{{ p.status == 'resolved' }}",
    "urgency": ALERTMANAGER["urgency"],
    "labels": ALERTMANAGER["labels"],
}

# --- Checkly (webhook alert channel, default body) ------------------------------------------

CHECKLY: Final = {
    "summary": _PAYLOAD
    + "{{ p.check_name or 'Checkly check' }} "
    + "{%- if p.alert_type == 'ALERT_FAILURE' %} failed"
    + "{%- elif p.alert_type == 'ALERT_DEGRADED' %} is degraded"
    + "{%- elif p.alert_type == 'ALERT_RECOVERY' %} recovered"
    + "{%- elif p.alert_type == 'ALERT_SSL' %}: SSL certificate expires soon"
    + "{%- elif p.alert_type %}: {{ p.alert_type }}{% endif -%}"
    + "{% if p.run_location %} in {{ p.run_location }}{% endif %}",
    "description": _PAYLOAD
    + "{%- if p.check_error_message %}{{ p.check_error_message }}\n{% endif -%}"
    + "{%- if p.group_name %}Group: {{ p.group_name }}\n{% endif -%}"
    + "{%- if p.check_type %}Check type: {{ p.check_type }}\n{% endif -%}"
    + "{%- if p.response_time %}Response time: {{ p.response_time }} ms\n{% endif -%}"
    + "{%- if p.api_check_response_status_code %}Response: "
    + "{{ p.api_check_response_status_code }} {{ p.api_check_response_status_text }}\n"
    + "{% endif -%}"
    + "{%- if p.started_at %}Started at: {{ p.started_at }}\n{% endif -%}",
    "source_url": _PAYLOAD
    + "{%- if p.link %}{{ p.link }}"
    + "{%- elif p.check_id %}https://app.checklyhq.com/checks/{{ p.check_id }}{% endif -%}",
    "dedup_id": _PAYLOAD
    + "{%- if p.check_id %}checkly-{{ p.check_id }}"
    + "{%- elif p.check_name %}checkly-{{ p.check_name }}{% endif -%}",
    "acknowledge": "",
    "resolve": _PAYLOAD + "{{ p.alert_type == 'ALERT_RECOVERY' }}",
    "urgency": _PAYLOAD
    + "{{ 'low' if p.alert_type in ('ALERT_DEGRADED', 'ALERT_SSL') else 'high' }}",
    "labels": _PAYLOAD
    + "{%- if p.tags is defined and p.tags is sequence and p.tags is not string %}"
    + "{{ p.tags | join('\n') }}\n"
    + "{% elif p.tags %}{{ p.tags }}\n{% endif -%}"
    + "{%- if p.check_type %}check_type={{ p.check_type }}{% endif -%}",
}

# --- Dead Man's Snitch (webhook integration) ------------------------------------------------

_DMS = (
    _PAYLOAD
    + "{%- set d = p.data if p.data is mapping else {} -%}"
    + "{%- set s = d.snitch if d.snitch is mapping else {} -%}"
)

DEADMANSSNITCH: Final = {
    "summary": _DMS
    + "Snitch {{ s.name or s.token or 'unknown' }} "
    + "{%- if p.type == 'snitch.missing' %} is missing (no check-in)"
    + "{%- elif p.type == 'snitch.errored' %} reported an error"
    + "{%- elif p.type == 'snitch.reporting' %} is reporting again"
    + "{%- else %}: {{ p.type or s.status }}{% endif -%}",
    "description": _DMS
    + "{%- if s.notes %}{{ s.notes }}\n\n{% endif -%}"
    + "Status: {{ s.status }}{% if s.previous_status %} (was {{ s.previous_status }}){% endif %}"
    + "{% if p.timestamp %}\nAt: {{ p.timestamp }}{% endif %}",
    "source_url": _DMS
    + "{% if s.token %}https://deadmanssnitch.com/snitches/{{ s.token }}{% endif %}",
    "dedup_id": _DMS + "{% if s.token %}snitch-{{ s.token }}{% endif %}",
    "acknowledge": "",
    "resolve": _DMS + "{{ p.type == 'snitch.reporting' }}",
    "urgency": "high",
    "labels": _DMS
    + "{%- if s.tags is defined and s.tags is sequence and s.tags is not string %}"
    + "{{ s.tags | join('\n') }}"
    + "{%- elif s.tags %}{{ s.tags }}{% endif -%}",
}

# --- Sentry (integration platform: issue and event_alert; also the legacy webhooks plugin) --

_SENTRY = (
    _PAYLOAD
    + "{%- set d = p.data if p.data is mapping else {} -%}"
    + "{%- set i = d.issue if d.issue is mapping else {} -%}"
    + "{%- set e = d.event if d.event is mapping else (p.event if p.event is mapping else {}) -%}"
)

SENTRY: Final = {
    "summary": _SENTRY + "{{ i.title or e.title or p.message or 'Sentry issue' }}",
    "description": _SENTRY
    + "{%- set culprit = i.culprit or e.culprit or p.culprit -%}"
    + "{%- if culprit %}Culprit: {{ culprit }}\n{% endif -%}"
    + "{%- set level = i.level or e.level or p.level -%}"
    + "{%- if level %}Level: {{ level }}\n{% endif -%}"
    + "{%- set project = i.project.name if i.project is mapping else p.project_name -%}"
    + "{%- if project %}Project: {{ project }}\n{% endif -%}"
    + "{%- if d.triggered_rule %}Alert rule: {{ d.triggered_rule }}\n{% endif -%}"
    + "{%- if i.status %}Issue status: {{ i.status }}\n{% endif -%}",
    "source_url": _SENTRY + "{{ i.web_url or e.web_url or p.url or i.permalink or '' }}",
    "dedup_id": _SENTRY
    + "{%- set issue = i.id or e.issue_id or p.id -%}"
    + "{% if issue %}sentry-{{ issue }}{% endif %}",
    "acknowledge": "",
    "resolve": _SENTRY + "{{ p.action == 'resolved' }}",
    "urgency": _SENTRY
    + "{%- set level = (i.level or e.level or p.level or 'error') | string | lower -%}"
    + "{{ 'high' if level in ('fatal', 'error', 'critical') else 'low' }}",
    "labels": _SENTRY
    + "{%- set project = i.project.slug if i.project is mapping else p.project_slug -%}"
    + "{% if project %}project={{ project }}\n{% endif %}"
    + "{%- set tags = e.tags if e.tags is defined and e.tags is sequence"
    + " and e.tags is not string else [] -%}"
    + "{%- for t in tags if t is sequence and t is not string and t | length == 2 -%}"
    + "{%- if t[0] in ('environment', 'release') %}{{ t[0] }}={{ t[1] }}\n{% endif -%}"
    + "{%- endfor -%}",
}

BUILTIN_TEMPLATES: Final = MappingProxyType(
    {
        BaseTemplate.GENERIC.value: MappingProxyType(GENERIC),
        BaseTemplate.ALERTMANAGER.value: MappingProxyType(ALERTMANAGER),
        BaseTemplate.GRAFANA.value: MappingProxyType(GRAFANA),
        BaseTemplate.CHECKLY.value: MappingProxyType(CHECKLY),
        BaseTemplate.DEADMANSSNITCH.value: MappingProxyType(DEADMANSSNITCH),
        BaseTemplate.SENTRY.value: MappingProxyType(SENTRY),
    }
)


def builtin_templates_compile() -> None:
    """Compile (and cache) every built-in template: a worker does it before its first event.

    One that does not compile is logged, never raised: the template tests catch it, and a
    worker must start anyway.
    """
    for templates in BUILTIN_TEMPLATES.values():
        for source in templates.values():
            if source:
                try:
                    template_check(source)
                except SandboxError:
                    logger.exception("built-in template does not compile")
