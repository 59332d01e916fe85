from __future__ import annotations

from django import forms

from jobs.models import Job

from . import library
from .models import Collection


class CollectionForm(forms.ModelForm):
    class Meta:
        model = Collection
        fields = ["name", "description", "private"]
        labels = {"private": "Private (only you and the admins)"}
        widgets = {"description": forms.Textarea(attrs={"rows": 3})}
        error_messages = {"name": {"required": "Give the collection a name."}}


class AddForm(forms.Form):
    """Which collection a sound goes into: one the member can add to."""

    collection = forms.ModelChoiceField(queryset=Collection.objects.none(), empty_label=None)

    def __init__(self, user, *args, job: Job | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        choices = library.collections_for(user)
        if job is not None:
            choices = choices.exclude(entries__job=job)
        self.fields["collection"].queryset = choices


class TagForm(forms.Form):
    tags = forms.CharField(
        max_length=200, label="Tags", help_text="Words, separated by commas: footsteps, level-3."
    )


class SearchForm(forms.Form):
    """The library page's filters; a value that is not among the choices is said and ignored."""

    q = forms.CharField(required=False, max_length=200, label="Prompt")
    model = forms.ChoiceField(required=False, label="Model")
    member = forms.ChoiceField(required=False, label="Member")
    tag = forms.ChoiceField(required=False, label="Tag")
    collection = forms.ModelChoiceField(
        required=False, queryset=Collection.objects.none(), label="Collection", empty_label="Any"
    )
    length = forms.ChoiceField(
        required=False,
        label="Length",
        choices=[("", "Any"), *((key, label) for key, (label, _, _) in library.LENGTHS.items())],
    )

    def __init__(self, user, *args, **kwargs):
        super().__init__(*args, **kwargs)
        sounds = library.sounds_for(user)
        any_ = [("", "Any")]
        models = sounds.order_by("model_id").values_list("model_id", flat=True).distinct()
        self.fields["model"].choices = any_ + [(m, m) for m in models]
        members = (
            sounds.order_by("user__username").values_list("user__username", flat=True).distinct()
        )
        self.fields["member"].choices = any_ + [(m, m) for m in members]
        tags = (
            library.SoundTag.objects.filter(job__in=sounds)
            .order_by("tag")
            .values_list("tag", flat=True)
            .distinct()
        )
        self.fields["tag"].choices = any_ + [(t, t) for t in tags]
        self.fields["collection"].queryset = library.collections_for(user)

    def query(self) -> library.Search:
        data = self.cleaned_data if self.is_valid() else getattr(self, "cleaned_data", {})
        return library.Search(
            text=(data.get("q") or "").strip(),
            model=data.get("model") or "",
            member=data.get("member") or "",
            tag=data.get("tag") or "",
            collection=data.get("collection"),
            length=data.get("length") or "",
        )
