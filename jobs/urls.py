from django.urls import path

from . import views

app_name = "jobs"
urlpatterns = [
    path("", views.generate, name="generate"),
    path("jobs/<int:pk>/", views.detail, name="detail"),
]
