from django.conf import settings


def studio(request) -> dict:
    return {"venice_is_sandbox": settings.VENICE_IS_SANDBOX}
