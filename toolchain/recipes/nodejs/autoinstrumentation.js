// Loaded by the injected `NODE_OPTIONS=--require <agent volume>/autoinstrumentation.js`.
// Starts the OpenTelemetry Node.js SDK with every auto-instrumentation; the SDK reads OTEL_* from the env
// that the Hodegos webhook sets. Resolution is relative to this file, so the app's own node_modules is
// never consulted for the agent's packages.
'use strict';

if (process.env.OTEL_NODE_RESOURCE_DETECTORS === undefined) {
  // The SDK's default ("all") includes cloud detectors that call metadata endpoints at start-up. In
  // Kubernetes the resource comes from OTEL_RESOURCE_ATTRIBUTES (set by Hodegos), so only local detectors
  // run unless the user sets the variable. "serviceinstance" is left out: it would replace the
  // service.instance.id that Hodegos derives from the pod with a random one.
  process.env.OTEL_NODE_RESOURCE_DETECTORS = 'env,host,os,process,container';
}

require('@opentelemetry/auto-instrumentations-node/register');
