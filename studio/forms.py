from __future__ import annotations

import hashlib

from django import forms
from django.contrib.auth.forms import AuthenticationForm
from django.core.cache import cache

from .models import Prompt, normalise_tags

# Login throttling: this many failed sign-ins for one username from one address, per window.
LOGIN_FAILURES_ALLOWED = 5
LOGIN_WINDOW_S = 15 * 60


def _throttle_key(username: str, address: str) -> str:
    who = hashlib.sha256(f"{username.strip().lower()}|{address}".encode()).hexdigest()[:32]
    return f"studio:login-failures:{who}"


class ThrottledAuthenticationForm(AuthenticationForm):
    """Django's sign-in form, refusing a username+address after repeated failures.

    Counted in the cache (no extra dependency): the window starts at the first failure, so the
    lock lifts at most 15 minutes later. A success clears the count.
    """

    error_messages = {
        **AuthenticationForm.error_messages,
        "throttled": "Too many failed sign-ins for this account from your network. "
        "Wait 15 minutes and try again, or ask an admin to reset your password.",
    }

    def clean(self):
        username = self.cleaned_data.get("username") or ""
        address = self.request.META.get("REMOTE_ADDR", "") if self.request else ""
        key = _throttle_key(username, address)
        if username and (cache.get(key) or 0) >= LOGIN_FAILURES_ALLOWED:
            raise forms.ValidationError(self.error_messages["throttled"], code="throttled")
        try:
            cleaned = super().clean()
        except forms.ValidationError:
            if username and not cache.add(key, 1, LOGIN_WINDOW_S):
                try:
                    cache.incr(key)
                except ValueError:  # expired in between
                    cache.add(key, 1, LOGIN_WINDOW_S)
            raise
        cache.delete(key)
        return cleaned


class PromptForm(forms.ModelForm):
    tags_text = forms.CharField(
        label="Tags",
        required=False,
        max_length=300,
        help_text="Separated by commas or spaces, e.g. lofi, chill, intro.",
    )
    model_id = forms.ChoiceField(label="Model", required=False)

    class Meta:
        model = Prompt
        fields = ["title", "text", "lyrics", "model_id", "private"]
        labels = {
            "text": "Prompt",
            "lyrics": "Lyrics (optional)",
            "private": "Private: only I (and admins) can see it",
        }
        widgets = {
            "text": forms.Textarea(attrs={"rows": 4}),
            "lyrics": forms.Textarea(attrs={"rows": 4}),
        }

    def __init__(self, *args, model_choices=(), **kwargs):
        super().__init__(*args, **kwargs)
        choices = [("", "Any model"), *model_choices]
        current = self.instance.model_id
        if current and current not in dict(choices):
            choices.append((current, current))  # a model since retired keeps its prompts
        self.fields["model_id"].choices = choices
        self.fields["tags_text"].initial = ", ".join(self.instance.tag_list)

    def clean_tags_text(self):
        return normalise_tags(self.cleaned_data["tags_text"])

    def save(self, commit: bool = True):
        self.instance.set_tags(self.cleaned_data["tags_text"])
        return super().save(commit)
