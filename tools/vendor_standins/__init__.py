"""Stand-ins for the vendor APIs the bridge fetches from (Meta's Graph API, Acuity Scheduling's API), on one local
port, answering as each vendor documents, for the local stack, `make demo`, the bench and the tests: never a vendor.

    with VendorStandins(page_token="t", acuity_user_id="1", acuity_api_key="k") as standins:
        standins.url  # http://127.0.0.1:<port>: GraphBaseUrl and AcuityBaseUrl both
        standins.fail("graph", "token_expired")  # the next Graph requests answer error 190

It imports nothing of the bridge (the records it serves are vendors' examples, in records.py).
"""

from vendor_standins.server import FAULTS, VendorStandins

__all__ = ["FAULTS", "VendorStandins"]
