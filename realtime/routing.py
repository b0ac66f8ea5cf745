from django.urls import path

from realtime.consumers import ClientConsumer

websocket_urlpatterns: list = [path("ws/", ClientConsumer.as_asgi())]
