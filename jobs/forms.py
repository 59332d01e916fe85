"""The generate form: one field per option the chosen model supports, with its limits.

The form only shapes and labels the input; the authoritative checks are `validate_queue`'s, run
by `pipeline.create_job`, whose refusals are put back on the field they name.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from django import forms

from venice import Model, QueueOptions
from venice.validation import LYRICS_RULES

from .pricing import MAX_TAKES
from .prompt_variables import (
    MAX_VALUE_LENGTH,
    Template,
    TemplateError,
    ValueRefused,
    Variable,
    check_all,
    merge,
    parse,
)

TAKES_REFUSED = f"Ask for 1 to {MAX_TAKES} takes."

# The queue options' fields (venice.QueueOptions), in the order the form shows them, and how a
# refusal names one the chosen model does not take.
OPTIONS = {
    "lyrics_prompt": "lyrics",
    "lyrics_optimizer": "the lyrics optimizer",
    "force_instrumental": "an instrumental-only switch",
    "duration_seconds": "a length",
    "voice": "a voice",
    "custom_voice": "a custom voice id",
    "speed": "a speed",
    "language_code": "a language",
    "loop": "looping",
}


def _unset(value: object) -> bool:
    return value is None or value is False or value == ""


def _seconds(n: int) -> str:
    return f"{n // 60}:{n % 60:02d} min" if n >= 60 else f"{n} s"


# The texts that may hold variables (prompt_variables): how each is named to the member, and the
# generate form's field for it.
TEXTS = {"prompt": "prompt", "lyrics": "lyrics_prompt"}
VARIABLE_PREFIX = "var_"


class VariableField(forms.CharField):
    """One variable's value, checked by the variable itself (`Variable.check`)."""

    def __init__(self, variable: Variable):
        if variable.kind == "select":
            choices = [(o, o) for o in variable.options]
            widget = forms.Select(choices=choices if variable.default else [("", "—"), *choices])
        elif variable.kind == "number":
            attrs = {"step": "any", "inputmode": "decimal"}
            if variable.low is not None:
                attrs.update(min=str(variable.low), max=str(variable.high))
            widget = forms.NumberInput(attrs=attrs)
        else:
            widget = forms.TextInput(attrs={"autocomplete": "off", "maxlength": MAX_VALUE_LENGTH})
        super().__init__(
            label=variable.name,
            required=variable.required,
            initial=variable.default,
            help_text=variable.describe(),
            widget=widget,
        )
        self.variable = variable

    def clean(self, value):
        try:
            return self.variable.check(self.to_python(value))
        except ValueRefused as exc:
            raise forms.ValidationError(str(exc), code="refused") from None


class VariablesForm(forms.Form):
    """A prompt's (and its lyrics') variables as fields, and the text as it will be filled in.

    The generate form takes these fields over; the page also renders this form alone (htmx) as
    the member types, unbound, with what was typed so far as `values`.
    """

    def __init__(self, *, texts: Mapping[str, str], values: Mapping[str, str] | None = None):
        super().__init__()
        # What was typed for each variable, by its field's name (var_<name>).
        values = values or {}
        self.templates: dict[str, Template] = {}
        self.template_errors: dict[str, str] = {}
        for where, text in texts.items():
            try:
                self.templates[where] = parse(text or "", where)
            except TemplateError as exc:
                self.template_errors[where] = str(exc)
        try:
            self.variables = merge(self.templates)
        except TemplateError as exc:
            self.template_errors[exc.where] = str(exc)
            self.variables = []
        for variable in self.variables:
            field = VariableField(variable)
            name = VARIABLE_PREFIX + variable.name
            if name in values:
                field.initial = values[name]
            self.fields[name] = field
        self.typed = {
            name.removeprefix(VARIABLE_PREFIX): value
            for name, value in values.items()
            if name.startswith(VARIABLE_PREFIX)
        }

    def preview(self) -> tuple[list[dict], dict[str, str]]:
        """Each text with variables, in pieces (Template.pieces) filled with the values that
        fit, and a message for each value typed that does not (one not typed yet is no fault
        while the member is still filling the fields in)."""
        values, refused = check_all(self.variables, self.typed)
        refused = {name: msg for name, msg in refused.items() if self.typed.get(name, "").strip()}
        texts = [
            {"label": where.capitalize(), "pieces": template.pieces(values)}
            for where, template in self.templates.items()
            if template.variables
        ]
        return texts, refused

    def filled(self, cleaned: Mapping[str, str]) -> dict[str, str]:
        """Each text with the cleaned values in place, by its generate form field."""
        values = {v.name: cleaned[VARIABLE_PREFIX + v.name] for v in self.variables}
        return {TEXTS[where]: t.render(values) for where, t in self.templates.items()}

    @classmethod
    def reading(cls, query: Mapping[str, str]) -> VariablesForm:
        """The variables of the texts in a generate form's query, with the values typed."""
        return cls(
            texts={where: query.get(field, "") for where, field in TEXTS.items()},
            values={k: v for k, v in query.items() if k.startswith(VARIABLE_PREFIX)},
        )


def filled_for_quote(query):
    """The form's query with the prompt filled in as far as it is: a model priced by the
    character is quoted on the text Venice will get, not on the template's braces."""
    variables = VariablesForm.reading(query)
    template = variables.templates.get("prompt")
    if template is None or not template.variables:
        return query
    values, _ = check_all(variables.variables, variables.typed)
    filled = query.copy()
    filled["prompt"] = "".join(piece for piece, _ in template.pieces(values))
    return filled


class GenerateForm(forms.Form):
    model = forms.ChoiceField(label="Model")
    prompt = forms.CharField(label="Prompt", widget=forms.Textarea(attrs={"rows": 4}))
    private = forms.BooleanField(
        label="Private: only I (and admins) can see this job", required=False
    )
    library_prompt = forms.IntegerField(required=False, widget=forms.HiddenInput)
    # Each take is its own job at the quote; they are reserved together (pipeline.create_takes).
    takes = forms.IntegerField(
        label="Takes",
        required=False,
        min_value=1,
        max_value=MAX_TAKES,
        initial=1,
        widget=forms.Select(choices=[(n, str(n)) for n in range(1, MAX_TAKES + 1)]),
        help_text="Each take is its own job at the price below; compare them side by side.",
        error_messages={
            "min_value": TAKES_REFUSED,
            "max_value": TAKES_REFUSED,
            "invalid": TAKES_REFUSED,
        },
    )
    library_version = forms.IntegerField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, models: dict[str, Model], model: Model, **kwargs):
        super().__init__(*args, **kwargs)
        self.model = model
        spec = model.spec
        self.fields["model"].choices = [
            (m.id, f"{m.spec.name or m.id}{' (beta)' if m.spec.beta else ''}")
            for m in models.values()
        ]
        self.fields["model"].initial = model.id

        prompt = self.fields["prompt"]
        prompt.min_length = spec.min_prompt_length
        prompt.widget.attrs.update(
            minlength=spec.min_prompt_length,
            **{"data-count": "prompt-count", "aria-describedby": "prompt-limits"},
        )
        if spec.prompt_character_limit:
            prompt.max_length = spec.prompt_character_limit
            prompt.widget.attrs["maxlength"] = spec.prompt_character_limit

        if spec.supports_lyrics:
            # Some models need lyrics without saying so in their spec (venice.validation).
            rule = LYRICS_RULES.get(model.id)
            needed = spec.lyrics_required or (rule is not None and rule.always)
            self.fields["lyrics_prompt"] = forms.CharField(
                label="Lyrics" if needed else "Lyrics (optional)",
                required=needed,
                max_length=spec.lyrics_character_limit,
                widget=forms.Textarea(
                    attrs={
                        "rows": 6,
                        "maxlength": spec.lyrics_character_limit,
                        "data-count": "lyrics-count",
                        "aria-describedby": "lyrics-limits",
                    }
                ),
            )
        if spec.supports_lyrics_optimizer:
            self.fields["lyrics_optimizer"] = forms.BooleanField(
                label="Let the lyrics optimizer write the lyrics", required=False
            )
        if spec.supports_force_instrumental:
            self.fields["force_instrumental"] = forms.BooleanField(
                label="Instrumental only (no vocals)", required=False
            )
        if spec.duration_options:
            self.fields["duration_seconds"] = forms.TypedChoiceField(
                label="Length",
                coerce=int,
                choices=[(d, _seconds(d)) for d in spec.duration_options],
                initial=spec.default_duration or spec.duration_options[0],
                help_text="This model makes tracks of these lengths only.",
            )
        elif spec.has_duration:
            low, high = spec.min_duration, spec.max_duration
            span = (
                f"From {low} to {high} seconds"
                if low is not None and high is not None
                else f"At least {low} seconds"
                if low is not None
                else f"Up to {high} seconds"
            )
            default = f" ({spec.default_duration} s)" if spec.default_duration else ""
            self.fields["duration_seconds"] = forms.IntegerField(
                label="Length in seconds",
                required=False,
                min_value=low,
                max_value=high,
                initial=spec.default_duration,
                widget=forms.NumberInput(attrs={"step": 1}),
                help_text=f"{span}; empty for the model's default{default}.",
            )
        if spec.voices:
            self.fields["voice"] = forms.ChoiceField(
                label="Voice",
                choices=[(v, v) for v in spec.voices],
                initial=spec.default_voice or spec.voices[0],
            )
        if spec.supports_custom_voice_id:
            self.fields["custom_voice"] = forms.CharField(
                label="Or a custom voice id",
                required=False,
                max_length=200,
                help_text="Overrides the voice above.",
            )
        if spec.supports_speed:
            self.fields["speed"] = forms.DecimalField(
                label="Speed",
                required=False,
                min_value=spec.min_speed,
                max_value=spec.max_speed,
                decimal_places=2,
                initial=spec.default_speed or Decimal("1.0"),
                widget=forms.NumberInput(attrs={"step": "0.05"}),
                help_text=(
                    f"From {spec.min_speed} to {spec.max_speed}; 1.0 is normal."
                    if spec.min_speed is not None and spec.max_speed is not None
                    else "1.0 is normal."
                ),
            )
        if spec.supports_language_code:
            self.fields["language_code"] = forms.RegexField(
                label="Language (two-letter code)",
                required=False,
                regex=r"^[A-Za-z]{2}$",
                max_length=2,
                help_text="For example en, de or ja. Empty: detected.",
                error_messages={"invalid": "Use a two-letter ISO 639-1 code, such as en."},
                widget=forms.TextInput(
                    attrs={"size": 3, "autocomplete": "off", "pattern": "[A-Za-z]{2}"}
                ),
            )
        if spec.supports_loop:
            self.fields["loop"] = forms.BooleanField(
                label="Make it loop seamlessly", required=False
            )
        self._initial_from(dict(self.initial))
        # The prompt's variables: read from what was posted, or from the text the form starts
        # with (a library prompt's).
        source = self.data if self.is_bound else self.initial
        self.variables = VariablesForm(
            texts={w: source.get(f, "") for w, f in TEXTS.items() if f in self.fields},
            values={k: v for k, v in source.items() if k.startswith(VARIABLE_PREFIX)},
        )
        self.fields.update(self.variables.fields)
        # Keep the form order: model, prompt, the options, then private.
        order = ["model", "prompt", "lyrics_prompt", *self.variables.fields, *OPTIONS]
        order += ["takes", "private", "library_prompt", "library_version"]
        self.order_fields([name for name in order if name in self.fields])

    def _initial_from(self, values: dict) -> None:
        """The starting values this form has fields for; a voice not in the model's list goes
        into the custom voice field."""
        initial = {
            name: value
            for name, value in values.items()
            if name in self.fields or name.startswith(VARIABLE_PREFIX)
        }
        voice = values.get("voice")
        if voice and "voice" in self.fields and voice not in self.model.spec.voices:
            initial.pop("voice", None)
            if "custom_voice" in self.fields:
                initial["custom_voice"] = voice
        self.initial = initial

    @property
    def variable_fields(self) -> list[forms.BoundField]:
        return [self[name] for name in self.variables.fields]

    def clean(self) -> dict:
        # An option this model has no field for would otherwise be dropped without a word (a
        # form posted after switching models without JavaScript, or a hand-made request).
        # Venice refuses such an option too, so say so rather than make a different job.
        name = self.model.spec.name or self.model.id
        for option, named in OPTIONS.items():
            if option not in self.fields and str(self.data.get(option, "")).strip():
                self.add_error(None, f"{name} does not take {named}; leave it out.")
        cleaned = super().clean()
        for where, message in self.variables.template_errors.items():
            self.add_error(TEXTS[where] if TEXTS[where] in self.fields else None, message)
        if self.variables.variables and not self.errors:
            # What Venice gets: the texts with the values in place, no braces left.
            cleaned.update(self.variables.filled(cleaned))
        return cleaned

    def clean_takes(self) -> int:
        return self.cleaned_data.get("takes") or 1  # left out (an older page): one take

    def clean_language_code(self) -> str:
        return self.cleaned_data["language_code"].lower()

    def queue_fields(self) -> dict:
        """The cleaned prompt and options as `create_job` takes them (QueueOptions' names),
        leaving out what was left unset: an empty field or an unticked box is Venice's default."""
        data = dict(self.cleaned_data)
        if custom_voice := (data.get("custom_voice") or "").strip():
            data["voice"] = custom_voice
        return {name: data[name] for name in QueueOptions.names() if not _unset(data.get(name))}

    def add_rejection(self, message: str, field: str | None) -> None:
        """Put a refusal from the pipeline on the field it names (voice covers custom_voice)."""
        if field == "voice" and "voice" not in self.fields:
            field = "custom_voice"
        self.add_error(field if field in self.fields else None, message)
