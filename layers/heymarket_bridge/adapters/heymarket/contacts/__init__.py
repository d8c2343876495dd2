"""The `HeymarketPort` on Heymarket's contact endpoints.

`gateway` (V2Gateway: upsert, delete, custom fields; owns what this execution environment knows of Heymarket's
undocumented ways, kept in step with the stack's by `learning`) and `v1` (V1Gateway, the legacy batch endpoint)
over: `search` (the phone look-up), `deletes`, `chunk` (one chunk's rounds: look up, write, reconcile, retry, halve),
`named` (updates a sender names by `contact_id`), and three pure modules: `writes` (which write each contact needs,
and its body), `reconcile` (what an answer says: which write it is, what an update cleared) and `consent` (which
opt-ins a write may carry)."""
