"""The Heymarket adapter: credentials and JWTs (`auth`), one paced request at a time (`http`), the documented
answer shapes (`answers`), one typed request (`client`), the `heymarket_bridge.sync.ports.HeymarketPort` for each API
mode (`contacts`: `V2Gateway`; the legacy `contacts.v1.V1Gateway`, imported from there by a function in v1 mode
only), and the tags and lists adapter (`segments`)."""

from heymarket_bridge.adapters.heymarket.auth import Authenticator, Credentials, sign_jwt
from heymarket_bridge.adapters.heymarket.contacts.gateway import V2Gateway
from heymarket_bridge.adapters.heymarket.http import HeymarketHttp

__all__ = ["Authenticator", "Credentials", "HeymarketHttp", "V2Gateway", "sign_jwt"]
