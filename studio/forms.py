from __future__ import annotations

from django import forms

from jobs.prompt_variables import TemplateError, merge, parse

from .models import Prompt, normalise_tags

# The texts that may hold variables, by how the member knows them.
TEMPLATE_FIELDS = {"prompt": "text", "lyrics": "lyrics"}


def template_errors(texts: dict[str, str]) -> dict[str, str]:
    """A message per text (by its field: text, lyrics) whose variables are malformed, or that
    defines a variable differently from the other: what the library refuses to save, whether
    from its form or from an imported file."""
    errors: dict[str, str] = {}
    templates = {}
    for where, field in TEMPLATE_FIELDS.items():
        try:
            templates[where] = parse(texts.get(field) or "", where)
        except TemplateError as exc:
            errors[field] = str(exc)
    if not errors:
        try:
            merge(templates)
        except TemplateError as exc:
            errors[TEMPLATE_FIELDS[exc.where]] = str(exc)
    return errors


class PromptForm(forms.ModelForm):
    tags_text = forms.CharField(
        label="Tags",
        required=False,
        max_length=300,
        help_text="Separated by commas or spaces, e.g. lofi, chill, intro.",
    )
    model_id = forms.ChoiceField(label="Model", required=False)
    note = forms.CharField(
        label="What changed (optional)",
        required=False,
        max_length=200,
        help_text="Kept with this version in the prompt's history.",
    )

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

    def clean(self) -> dict:
        """A malformed template is refused here, saying where, rather than when it is used."""
        cleaned = super().clean()
        texts = {field: cleaned[field] for field in TEMPLATE_FIELDS.values() if field in cleaned}
        for field, message in template_errors(texts).items():
            self.add_error(field, message)
        return cleaned

    def clean_tags_text(self):
        return normalise_tags(self.cleaned_data["tags_text"])

    def save(self, commit: bool = True):
        self.instance.set_tags(self.cleaned_data["tags_text"])
        return super().save(commit)
