from django.urls import include, path

from . import views

app_name = "jobs"
# One job's pages, each under its number.
job_urls = [
    path("", views.detail, name="detail"),
    path("timeline/", views.timeline, name="timeline"),
    path("audio/", views.audio, name="audio"),
    path("audio.mp3", views.audio_mp3, name="audio_mp3"),
    path("cancel/", views.cancel, name="cancel"),
    *(path(f"{action}/", views.curate, {"action": action}, name=action) for action in views.CURATE),
]
urlpatterns = [
    path("", views.generate, name="generate"),
    path("generate/form/", views.switch_model, name="switch_model"),
    path("generate/quote/", views.quote, name="quote"),
    path("generate/variables/", views.variables, name="variables"),
    path("jobs/", views.job_list, name="list"),
    path("jobs/live/", views.live, name="live"),
    path("jobs/<int:pk>/", include(job_urls)),
    path("takes/<uuid:group>/", views.takes, name="takes"),
]
