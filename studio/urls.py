from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from review import views as review_views

from . import health, metrics, twofactor, views

library_urls = (
    [
        path("", views.library, name="list"),
        path("new/", views.prompt_new, name="new"),
        path("quick/", views.quick_insert, name="quick"),
        path("export/", views.library_export, name="export"),
        path("import/", views.library_import, name="import"),
        path("import/preview/", views.import_preview, name="import_preview"),
        path("import/confirm/", views.import_confirm, name="import_confirm"),
        path("<int:pk>/", views.prompt_edit, name="edit"),
        path("<int:pk>/delete/", views.prompt_delete, name="delete"),
        path("<int:pk>/use/", views.prompt_use, name="use"),
        path("<int:pk>/history/", views.prompt_history, name="history"),
        path("<int:pk>/star/", views.prompt_star, name="star"),
        path("<int:pk>/versions/<int:number>/use/", views.version_use, name="version_use"),
        path(
            "<int:pk>/versions/<int:number>/restore/",
            views.version_restore,
            name="version_restore",
        ),
        path(
            "<int:pk>/versions/<int:number>/approve/",
            views.version_approve,
            name="version_approve",
        ),
        path("<int:pk>/unapprove/", views.prompt_unapprove, name="unapprove"),
        path("again/<int:pk>/", views.run_again, name="run_again"),
        path("from-job/<int:pk>/", views.save_job, name="save_job"),
    ],
    "library",
)

urlpatterns = [
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("healthz", health.healthz, name="healthz"),
    path("metrics", metrics.metrics, name="metrics"),
    path("twofactor/", include(twofactor.urls)),
    path("admin/", admin.site.urls),
    path("library/", include(library_urls)),
    path("wallet/", include("wallets.urls")),
    path("usage/", review_views.my_usage, name="usage"),
    path("usage/ask/", review_views.ask_for_budget, name="ask_for_budget"),
    path("sounds/", include("sounds.urls")),
    path("", include("sharing.urls")),
    path("", include("jobs.urls")),
]
