"""Pure values both functions share: contacts, phones, operations, mappings, consent, failures. Imports only
domain/ (and the standard library, phonenumbers).

- contact.py: Contact and read_contact; fields.py reads its optional fields;
- phone.py reads a phone in its country, phone_text.py a phone field's free text, phone_plans.py what the numbering
  plans say, phone_owner.py whose phone a field's wording says it holds, country.py what names a country;
- operations.py: the queue messages and dead letters; mapping.py, custom_fields.py, consent.py, reconsent.py,
  failures.py, text.py.
"""
