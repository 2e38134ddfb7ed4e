"""End-to-end tests: the ASGI application served by Daphne, driven by real Chromium."""
