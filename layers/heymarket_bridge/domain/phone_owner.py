"""Whose phone a field holds, by the words of its name or question: the respondent's own ("Your phone", "Mobile",
"q4_phone"), someone else's ("Emergency contact phone", "parentPhone", "Telefon Notfallkontakt"), and which answers
name the respondent's country. Pure: word lists in English, German, Spanish, French, Portuguese, Italian and Dutch,
compared case-folded without accents; camelCase and snake_case names are split into words."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from heymarket_bridge.domain.fields import single

if TYPE_CHECKING:  # the country rules are loaded where a phone is read, not by the sync function
    from heymarket_bridge.domain.country import CountryEvidence

# Words that, with a phone word (PHONE_STEMS), make a field's name say plainly that it holds the respondent's own
# phone ("Your phone", "Mobile number", "Tu número de teléfono", "Ihre Handynummer", "q4_phone"): nothing in such a
# name leaves room for another person.
OWN_PHONE_WORDS = frozenset(
    (
        *("your", "yours", "you", "my", "own", "the", "a", "an", "of", "what", "whats", "is", "s", "number", "numbers"),
        *("no", "nr", "num", "nro", "best", "contact", "primary", "main", "personal", "direct", "q", "tel", "sms"),
        *("tu", "su", "de", "numero", "votre", "ton", "ihre", "deine", "dein", "ihr", "nummer", "seu", "sua", "il"),
        *("tuo", "uw", "je", "jouw", "mobile", "cell", "cellphone", "mobilephone", "phonenumber", "telephone"),
    )
)


def clearly_own(name: str) -> bool:
    """Whether one part of a field's name (a Typeform name is "title / ref") asks for a phone and says nothing else,
    so that it can only be the respondent's own: "Phone", "Your phone number", "Mobile", "Teléfono", "q4_phone"."""
    for part in (name or "").split(" / "):
        words = _words(part)
        if words and asks_for_phone(part) and all(w in OWN_PHONE_WORDS or _is_phone_word(w) for w in words):
            return True
    return False


def _is_phone_word(word: str) -> bool:
    return any(stem in word for stem in PHONE_STEMS) and len(word) <= 16


# Words that make a field about someone other than the respondent (English, German, Spanish, French, Portuguese,
# Italian, Dutch), compared case-folded without accents; camelCase and snake_case names are split into words.
SOMEONE_ELSE_WORDS = frozenset(
    (
        *("emergency", "parent", "parents", "parental", "guardian", "guardians", "referrer", "referral", "referred"),
        *("referee", "reference", "references", "alternative", "alternate", "alt", "other", "another", "secondary"),
        *("backup", "spouse", "partner", "husband", "wife", "mother", "father", "mom", "mum", "mommy", "dad"),
        *("daddy", "child", "childs", "children", "son", "daughter", "kid", "kids", "friend", "friends", "sibling"),
        *("brother", "sister", "relative", "relatives", "kin", "nextofkin", "assistant", "manager", "supervisor"),
        *("boss", "sponsor", "nominee", "beneficiary", "caregiver", "carer", "doctor", "physician", "employer"),
        *("notfall", "notfallkontakt", "eltern", "elternteil", "mutter", "vater", "erziehungsberechtigte"),
        *("erziehungsberechtigter", "ehepartner", "ehepartnerin", "ehefrau", "ehemann", "partnerin", "kind"),
        *("kinder", "sohn", "tochter", "andere", "anderer", "anderes", "weitere", "weiterer", "alternativ"),
        *("angehorige", "angehoriger", "vertreter", "vertreterin", "emergencia", "padre", "madre", "padres"),
        *("tutor", "tutora", "acudiente", "esposo", "esposa", "conyuge", "pareja", "hijo", "hija", "otro", "otra"),
        *("alternativo", "alternativa", "referido", "referida", "familiar", "urgence", "tuteur", "tutrice"),
        *("conjoint", "conjointe", "epoux", "epouse", "mere", "pere", "enfant", "autre", "alternatif", "parrain"),
        *("responsavel", "emergenza", "genitore", "genitori", "noodgeval", "ouder", "ouders", "voogd"),
        # "ICE" (in case of emergency), colleagues, Portuguese and Italian relatives (not Portuguese "pai": "país"
        # less its possessive "s" would be it).
        *("ice", "colleague", "coworker", "kollege", "kollegin", "colega", "collegue", "collega", "mae"),
        *("irmao", "irma", "filho", "filha", "marido", "madrina", "padrino", "figlio", "figlia", "moglie"),
        *("marito", "fratello", "sorella", "nonno", "nonna", "abuelo", "abuela", "grandparent", "grandmother"),
        *("grandfather", "grandma", "grandpa", "aunt", "uncle", "tia", "tio", "cousin", "neighbor", "neighbour"),
        # People a booking or an order is for or with: a guest, a companion, a patient booked for, a gift's recipient.
        *("guest", "guests", "companion", "acompanante", "invitado", "invitada", "patient", "recipient", "gast"),
        *("beschenkte", "destinataire", "destinatario", "destinataria", "paciente"),
        # Someone who answers for the person: a secretary, a reception desk, a switchboard.
        *("sekretariat", "sekretarin", "sekretaerin", "secretary", "secretariat", "secretaria", "secretaire"),
        *("reception", "receptionist", "rezeption", "empfang", "zentrale", "switchboard", "centralita", "recepcion"),
    )
)


# The same, found inside names written run together ("q5_guardianphone", "mothersphone", "notfallnummer",
# "parentguardian"): only stems too long or too particular to sit inside a word about the respondent ("vater" is
# inside "privater", "son" inside "person": those are matched as whole words only).
SOMEONE_ELSE_STEMS = (
    *("emergenc", "guardian", "parent", "mother", "father", "spouse", "husband", "sibling", "brother", "sister"),
    *("relative", "nextofkin", "caregiver", "referr", "referee", "colleague", "coworker", "notfall", "eltern"),
    *("mutter", "ehepartner", "ehefrau", "ehemann", "erziehungsberecht", "angehorig", "tochter", "emergencia"),
    *("emergenza", "urgence", "noodgeval", "madre", "padre", "esposa", "esposo", "conyuge", "acudiente"),
    *("responsavel", "genitor", "tuteur", "tutrice", "daughter", "children", "grandm", "grandf", "grandp"),
    *("alternat", "secondary", "assistant", "supervisor", "beneficiar", "kollege", "kollegin"),
)


def about_someone_else(*labels: str) -> bool:
    """Whether a field's name, ref or question says it is about someone other than the respondent ("Emergency
    contact phone", "parentPhone", "q7_guardian_mobile", "Telefon Notfallkontakt", "Teléfono del padre")."""
    for label in labels:
        spaced = re.sub(r"([a-z])([A-Z])", r"\1 \2", label or "")
        folded = "".join(ch for ch in unicodedata.normalize("NFKD", spaced.casefold()) if not unicodedata.combining(ch))
        words = re.findall(r"[a-z]+", folded)
        # "mothersPhone", "parents_mobile": a possessive written without its apostrophe.
        words += [word[:-1] for word in words if word.endswith("s")]
        if any(word in SOMEONE_ELSE_WORDS for word in words) or "emergencycontact" in "".join(words):
            return True
        if any(stem in word for word in words for stem in SOMEONE_ELSE_STEMS):
            return True
    return False


# Words of a question or field name asking for a phone (English, German, Spanish, French, Portuguese, Italian,
# Dutch), found inside the name case-folded without accents: "Número de teléfono", "Handynummer", "Celular".
PHONE_STEMS = (
    *("phone", "mobil", "cell", "celular", "sms", "whatsapp", "telef", "telep", "handy", "movil", "portable"),
    *("natel", "cellulare", "telefoon", "gsm"),
)


def asks_for_phone(*labels: str) -> bool:
    """Whether a field's name or question asks for a phone number, in any of the languages of PHONE_STEMS."""
    return any(stem in word for label in labels for word in _words(label) for stem in PHONE_STEMS)


# Words of a question or field naming the respondent's country ("Country", "País", "Land", "Pays", "Country /
# Region"); one about where they were born or their citizenship says nothing about their phone.
COUNTRY_WORDS = frozenset(("country", "countries", "pais", "land", "pays", "paese", "countryregion", "nation"))


NOT_RESIDENCE_WORDS = frozenset(("birth", "born", "nationality", "citizenship", "geburtsland", "nacimiento"))


def country_answers(pairs: Iterable[tuple[str, Any]]) -> tuple[CountryEvidence, ...]:
    """Evidence about the respondent's country from (question or field name, answer) pairs: the answers to
    questions naming a country (COUNTRY_WORDS), not about someone else and not about birth or citizenship. Answers
    that are not text (a phone widget, a list of several) are left out; a one-item list is its item."""
    from heymarket_bridge.domain.country import CountryEvidence

    found: list[CountryEvidence] = []
    for name, answer in pairs:
        value = single(answer)
        if not isinstance(value, str) or not value.strip() or about_someone_else(name):
            continue
        words = set(_words(name))
        if words & COUNTRY_WORDS and not words & NOT_RESIDENCE_WORDS:
            found.append(CountryEvidence(name, value))
    return tuple(found)


def _words(label: str) -> list[str]:
    spaced = re.sub(r"([a-z])([A-Z])", r"\1 \2", label or "")
    folded = "".join(ch for ch in unicodedata.normalize("NFKD", spaced.casefold()) if not unicodedata.combining(ch))
    return re.findall(r"[a-z]+", folded)
