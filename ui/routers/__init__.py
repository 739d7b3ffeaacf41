"""One router per page: overview, onboarding, sources, destinations, collectors, settings."""
