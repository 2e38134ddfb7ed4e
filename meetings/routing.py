# Live meeting consumers arrive with the meetings issue; the ASGI router already
# mounts this list so adding a consumer needs no change outside this app.
websocket_urlpatterns: list = []
