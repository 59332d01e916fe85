from django import forms

from .links import MAX_DAYS, MIN_DAYS


class ShareForm(forms.Form):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("auto_id", "share_%s")  # beside the job page's other controls
        super().__init__(*args, **kwargs)

    title = forms.CharField(
        max_length=120,
        required=False,
        help_text="What the shared page calls it (if left empty: a sound's model and date, a "
        "collection's name).",
    )
    days = forms.IntegerField(
        min_value=MIN_DAYS, max_value=MAX_DAYS, initial=7, label="Lasts (days)"
    )
    show_prompt = forms.BooleanField(
        required=False, label="Show the prompt's text on the shared page"
    )
