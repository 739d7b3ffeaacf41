"""What each page shows, as pure functions of the cached objects (no request, no HTTP): the routers render
these with the templates, the tests call them directly."""
