"""Forms that send their answers known by a label (a question's title, a field's label or the key its author chose):
the respondent's contact read from the labels' words, for the sources that have no fixed schema (WordPress form
plugins, the Google Forms script). Pure.

The rules are those of the first wave's form sources (Typeform, Jotform, Calendly): the phone is the answer to the
first question asking for a phone (heymarket_bridge.domain.phone_owner.asks_for_phone, several languages) or of a
field the form itself types as a phone, a question about someone else's number never the respondent's
(`about_someone_else`; `choose_phone` in heymarket_bridge.ingest.sources.common), read in the country a "Country"
answer names; the email is the first email answer not about someone else; first and last names from questions asking
for each, else one asking for the name, split on its last space. SMS consent is never read from a label: a form's
checkbox can be worded any way ("I do not want texts"), so `is_opted_out` comes only from a mapping that names it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

from heymarket_bridge.domain.country import CountryEvidence
from heymarket_bridge.domain.fields import single
from heymarket_bridge.domain.mapping import is_blank, split_name
from heymarket_bridge.domain.phone_owner import about_someone_else, asks_for_phone, country_answers
from heymarket_bridge.domain.records import record

# The field types a form builder gives a phone field (Elementor "tel", Gravity Forms and WPForms "phone", Contact
# Form 7's [tel] tag, whose generated names start "tel-").
PHONE_KINDS = frozenset({"tel", "phone"})
EMAIL_KINDS = frozenset({"email"})
# How much of a label is compared with the words that say what a field holds: a key word further on is not looked
# for, so that a megabyte of label costs no more than its first part.
COMPARED_CHARACTERS = 500
FIRST_WORDS = ("firstname", "givenname", "forename", "vorname", "prenom", "primernombre")
LAST_WORDS = ("lastname", "surname", "familyname", "nachname", "apellido", "nomdefamille")
NAME_LABELS = frozenset(
    (
        *("name", "fullname", "yourname", "yourfullname", "whatsyourname", "whatisyourname", "nombre", "nom", "nome"),
        *("nombrecompleto", "nomcomplet", "nomecompleto", "vollstandigername", "tunombre", "votrenom", "seunome"),
    )
)
# Keys and labels that are a name part by themselves (a Gravity Forms "Select Fields" key, a CF7 field name).
FIRST_KEYS = frozenset(("first", "fname", "yourfirstname"))
LAST_KEYS = frozenset(("last", "lname", "yourlastname"))
EMAIL_WORDS = ("email", "mail", "correo", "courriel")


@record
class LabelledAnswer:
    """One answer: `key` as the form sent it (the reference a mapping names first), `label` as the form's author wrote
    the question (the key itself where the form sends no other), the `value`, and `kind`, the field's type where the
    sender gives one ("tel", "email"; lower case)."""

    key: str
    label: str
    value: Any
    kind: str = ""

    @property
    def name(self) -> str:
        """The answer as a refusal names it."""
        return self.label if self.label == self.key or not self.key else f"{self.label} / {self.key}"

    def about_someone_else(self) -> bool:
        return about_someone_else(self.label, self.key)

    def asks_for_phone(self) -> bool:
        return self.kind in PHONE_KINDS or asks_for_phone(self.label, self.key) or self.key.startswith("tel-")

    def is_one_of(self, names: Iterable[str]) -> bool:
        """Whether the key's or the label's letters are one of `names` ("first", "name", "your-name")."""
        return letters(self.key) in names or letters(self.label) in names

    def says(self, words: Iterable[str]) -> bool:
        keys = (letters(self.key), letters(self.label))
        return any(word in key for word in words for key in keys)


def letters(text: str) -> str:
    """`text` as lower-case ASCII letters only, cut first (a sender's label may be any length)."""
    return re.sub(r"[^a-z]", "", text[:COMPARED_CHARACTERS].lower())


def phone_candidates(answers: Sequence[LabelledAnswer]) -> list[LabelledAnswer]:
    """The answers that may hold the respondent's phone, in the form's order: those asking for a phone or typed as
    one (the source chooses among them: heymarket_bridge.ingest.sources.common.choose_phone, which never takes one
    about someone else)."""
    return [a for a in answers if a.asks_for_phone()]


def person_country(answers: Sequence[LabelledAnswer]) -> tuple[CountryEvidence, ...]:
    """What the answers say of the respondent's country: a "Country" question's answer."""
    return country_answers((a.name, a.value) for a in answers)


def labelled_contact(answers: Sequence[LabelledAnswer]) -> dict[str, Any]:
    """The "first", "last" and "email" the labels give (never from an answer about someone else, nor a phone's)."""
    theirs = [a for a in answers if not a.about_someone_else() and not a.asks_for_phone()]
    first, last = _names(theirs)
    return {"first": first, "last": last, "email": _first(a for a in theirs if _is_email(a))}


def _is_email(answer: LabelledAnswer) -> bool:
    """A field typed email, or labelled so and holding an address."""
    return answer.kind in EMAIL_KINDS or (answer.says(EMAIL_WORDS) and "@" in str(single(answer.value)))


def _names(theirs: Sequence[LabelledAnswer]) -> tuple[Any, Any]:
    """First and last name from fields asking for each, else one asking for the name split on its last space."""
    first = _first(a for a in theirs if a.says(FIRST_WORDS) or a.is_one_of(FIRST_KEYS))
    last = _first(a for a in theirs if a.says(LAST_WORDS) or a.is_one_of(LAST_KEYS))
    if first is None and last is None:
        return split_name(_first(a for a in theirs if a.says(("fullname",)) or a.is_one_of(NAME_LABELS)))
    return first, last


def answer_of(answers: Sequence[LabelledAnswer], ref: str) -> Any:
    """The answer a mapping reference names: the key as sent (exactly), else the label (case and spaces aside)."""
    for answer in answers:
        if answer.key == ref:
            return answer.value
    wanted = " ".join(ref.casefold().split())
    return next((a.value for a in answers if " ".join(a.label.casefold().split()) == wanted), None)


def _first(answers: Iterable[LabelledAnswer]) -> Any:
    return next((single(a.value) for a in answers if not is_blank(single(a.value))), None)
