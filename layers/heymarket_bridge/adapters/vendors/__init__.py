"""The vendors' APIs the fetch function reads id-only notifications' records from (heymarket_bridge.ingest.ports
.VendorRecords): Meta's Graph API (`graph`) and Acuity Scheduling's API (`acuity`), over one small HTTP client (`http`).
"""
