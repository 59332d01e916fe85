"""Error pages that never show a secret, the development one included."""

from __future__ import annotations

import re

from django.views.debug import SafeExceptionReporterFilter


class SecretsFilter(SafeExceptionReporterFilter):
    """Django cleanses `sensitive_variables` only with DEBUG off; a developer's error page can
    show a wallet key as readily as a production report. This filter is always on, and also
    hides any local whose name says it holds a secret."""

    secret_name = re.compile(r"key|secret|private|password|token|signature", re.IGNORECASE)

    def is_active(self, request) -> bool:
        return True

    def get_traceback_frame_variables(self, request, tb_frame):
        return [
            (name, self.cleansed_substitute if self.secret_name.search(name) else value)
            for name, value in super().get_traceback_frame_variables(request, tb_frame)
        ]
