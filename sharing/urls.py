from django.urls import path

from . import views

app_name = "sharing"
urlpatterns = [
    path("share/jobs/<int:pk>/", views.panel, name="panel"),
    path("share/jobs/<int:pk>/new/", views.create, name="create"),
    path(
        "share/collections/<int:pk>/",
        views.panel,
        {"kind": "collection"},
        name="collection_panel",
    ),
    path(
        "share/collections/<int:pk>/new/",
        views.create,
        {"kind": "collection"},
        name="collection_create",
    ),
    path("share/links/<int:pk>/revoke/", views.revoke, name="revoke"),
    # What a link's holder opens, without signing in.
    path("s/<str:token>/", views.shared, name="shared"),
    path("s/<str:token>/audio/", views.shared_audio, name="shared_audio"),
    path("s/<str:token>/audio/<int:job>/", views.shared_audio, name="shared_sound"),
    path("s/<str:token>/zip/", views.shared_zip, name="shared_zip"),
]
