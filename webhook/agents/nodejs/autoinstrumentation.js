// Loaded by the injected `NODE_OPTIONS=--require <agent volume>/autoinstrumentation.js`.
// Starts the OpenTelemetry Node.js SDK with every auto-instrumentation; the SDK reads OTEL_* from the env
// that the Hodegos webhook sets. Resolution is relative to this file, so the app's own node_modules is
// never consulted for the agent's packages.
require('@opentelemetry/auto-instrumentations-node/register');
