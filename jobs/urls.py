from django.urls import path

from . import views

app_name = "jobs"
urlpatterns = [
    path("", views.generate, name="generate"),
    path("generate/quote/", views.quote, name="quote"),
    path("generate/variables/", views.variables, name="variables"),
    path("jobs/", views.job_list, name="list"),
    path("jobs/live/", views.live, name="live"),
    path("jobs/<int:pk>/", views.detail, name="detail"),
    path("jobs/<int:pk>/timeline/", views.timeline, name="timeline"),
    path("jobs/<int:pk>/audio/", views.audio, name="audio"),
    path("jobs/<int:pk>/cancel/", views.cancel, name="cancel"),
]
