from django.urls import path

from web import views

urlpatterns = [
    path("", views.app, name="app"),
    path("join/<str:code>", views.join, name="join"),
    path("intro/<str:token>", views.intro, name="intro"),
]
