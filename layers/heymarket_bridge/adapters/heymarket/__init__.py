"""The Heymarket adapter: credentials and JWTs (`auth`), one paced request at a time (`http`), the documented
answer shapes (`answers`), one typed request (`client`), the `heymarket_bridge.sync.ports.HeymarketPort` for each API
mode (`contacts`: `V2Gateway`, `V1Gateway`), and the tags and lists adapter (`segments`)."""

from heymarket_bridge.adapters.heymarket.auth import Authenticator, Credentials, sign_jwt
from heymarket_bridge.adapters.heymarket.contacts.gateway import V2Gateway
from heymarket_bridge.adapters.heymarket.contacts.v1 import V1Gateway
from heymarket_bridge.adapters.heymarket.http import HeymarketHttp

__all__ = ["Authenticator", "Credentials", "HeymarketHttp", "V1Gateway", "V2Gateway", "sign_jwt"]
