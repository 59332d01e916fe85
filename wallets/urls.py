from django.urls import path

from . import views

app_name = "wallets"
urlpatterns = [
    path("", views.wallet, name="wallet"),
    path("refresh/", views.refresh, name="refresh"),
    path("top-up/", views.top_up, name="top_up"),
]
