"""Root fixtures shared by every test area."""

pytest_plugins = ["tests.kube", "tests.cgroups"]
