"""Root fixtures shared by every test area."""
