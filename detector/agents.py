"""Other APM agents already in a process: pure functions over its environment, command line and maps.

Hodegos should not inject a second tracer next to one of these (duplicate spans, clashing bytecode
instrumentation), so the record says which vendors were found and why. OpenTelemetry's own agents are
not listed: Hodegos injects those itself.
"""

from __future__ import annotations

from dataclasses import dataclass

from detector.procfs import ProcessFacts


@dataclass(frozen=True)
class KnownAgent:
    name: str
    env_keys: frozenset[str]  # any of these set (non-empty) means the agent is configured
    markers: tuple[
        str, ...
    ]  # lower-case substrings of -javaagent/NODE_OPTIONS/LD_PRELOAD values or mapped paths


KNOWN_AGENTS: tuple[KnownAgent, ...] = (
    KnownAgent(
        "datadog",
        frozenset({"DD_AGENT_HOST", "DD_TRACE_AGENT_URL", "DD_TRACE_AGENT_PORT", "DD_TRACE_ENABLED"}),
        ("dd-java-agent", "dd-trace", "ddtrace", "libddwaf", "datadog"),
    ),
    KnownAgent(
        "newrelic",
        frozenset({"NEW_RELIC_LICENSE_KEY", "NEW_RELIC_APP_NAME", "NEW_RELIC_AGENT_ENABLED", "NEWRELIC_KEY"}),
        ("newrelic",),
    ),
    KnownAgent(
        "dynatrace",
        frozenset({"DT_TENANT", "DT_TENANTTOKEN", "DT_CONNECTION_POINT"}),
        ("liboneagent", "oneagent", "dynatrace"),
    ),
    KnownAgent(
        "elastic",
        frozenset({"ELASTIC_APM_SERVER_URL", "ELASTIC_APM_SERVER_URLS", "ELASTIC_APM_SERVICE_NAME"}),
        ("elastic-apm", "elasticapm"),
    ),
    KnownAgent(
        "appdynamics",
        frozenset(
            {
                "APPDYNAMICS_CONTROLLER_HOST_NAME",
                "APPDYNAMICS_AGENT_ACCOUNT_NAME",
                "APPDYNAMICS_AGENT_APPLICATION_NAME",
            }
        ),
        ("appdynamics", "appserveragent"),
    ),
    KnownAgent("instana", frozenset({"INSTANA_AGENT_HOST", "INSTANA_AGENT_KEY"}), ("instana",)),
)

# Environment variables through which runtimes load agents: their values are searched for markers.
LOADER_ENV = (
    "JAVA_TOOL_OPTIONS",
    "JDK_JAVA_OPTIONS",
    "_JAVA_OPTIONS",
    "NODE_OPTIONS",
    "PYTHONPATH",
    "LD_PRELOAD",
    "CORECLR_PROFILER_PATH",
    "CORECLR_PROFILER_PATH_64",
    "RUBYOPT",
)


def _agent_arguments(facts: ProcessFacts) -> list[tuple[str, str]]:
    """(where, value) pairs in which an agent's name may appear."""
    found = [(f"env {key}", facts.environ[key]) for key in LOADER_ENV if facts.environ.get(key)]
    for arg in facts.cmdline:
        if arg.startswith(("-javaagent:", "-agentpath:", "-agentlib:")) or arg in (
            "ddtrace-run",
            "newrelic-admin",
        ):
            found.append(("cmdline", arg))
    if facts.cmdline and facts.cmdline[0].rsplit("/", 1)[-1] in ("ddtrace-run", "newrelic-admin"):
        found.append(("cmdline", facts.cmdline[0]))
    found.extend(("maps", path) for path in facts.mapped_files)
    return found


def _matching_token(value: str, markers: tuple[str, ...]) -> str | None:
    """The word of ``value`` naming an agent, cut before its options (they may carry license keys)."""
    for token in value.split():
        lowered = token.lower()
        for marker in markers:
            at = lowered.find(marker)
            if at != -1:
                options = token.find("=", at)
                return token[:options] if options != -1 else token
    return None


def other_agents(facts: ProcessFacts) -> list[tuple[str, str]]:
    """``(agent, evidence)`` for each known APM agent found, in :data:`KNOWN_AGENTS` order."""
    arguments = _agent_arguments(facts)
    result: list[tuple[str, str]] = []
    for agent in KNOWN_AGENTS:
        keys = sorted(key for key in agent.env_keys if facts.environ.get(key))
        if keys:
            result.append((agent.name, f"{agent.name}: env {keys[0]}"))
            continue
        for where, value in arguments:
            shown = _matching_token(value, agent.markers)
            if shown:
                result.append((agent.name, f"{agent.name}: {where} {shown}"))
                break
    return result
