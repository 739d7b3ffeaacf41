"""The contract between Hodegos components: CRD models and the constants that cross process boundaries.

Everything another component, a pod or a user can see by name (annotation keys, labels, env var names,
ports, the CRD group) is defined here once. Modules elsewhere import these names instead of spelling them.
"""

from api import constants, models

__all__ = ["constants", "models"]
