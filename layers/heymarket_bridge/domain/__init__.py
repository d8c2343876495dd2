"""Pure values both functions share: contacts, phones, operations, mappings, consent, failures. Imports only
domain/ (and the standard library, phonenumbers)."""
