"""The `HeymarketPort` on Heymarket's contact endpoints: `gateway` (V2Gateway: upsert, delete, custom fields; what
this execution environment learned of Heymarket's undocumented ways), `search` (the phone look-up), `writes` (pure:
which write each contact needs, and the request bodies), `chunk` (one chunk's rounds), `deletes`, and `v1`
(V1Gateway, the legacy batch endpoint)."""
