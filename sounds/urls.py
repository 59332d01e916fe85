from django.urls import path

from . import views

app_name = "sounds"
urlpatterns = [
    path("", views.sound_library, name="library"),
    path("collections/", views.collections, name="collections"),
    path("collections/<int:pk>/", views.collection, name="collection"),
    path("collections/<int:pk>/edit/", views.collection_edit, name="collection_edit"),
    path("collections/<int:pk>/delete/", views.collection_delete, name="collection_delete"),
    path("collections/<int:pk>/download.zip", views.collection_zip, name="collection_zip"),
    path("jobs/<int:pk>/", views.panel, name="panel"),
    path("jobs/<int:pk>/add/", views.add, name="add"),
    path("jobs/<int:pk>/take-out/", views.take_out, name="take_out"),
    path("jobs/<int:pk>/tag/", views.tag, name="tag"),
    path("jobs/<int:pk>/untag/", views.untag, name="untag"),
]
