"""The Heymarket adapter: credentials and JWTs (`auth`), one paced request at a time (`http`), the documented
answer shapes (`answers`), and the gateway implementing `heymarket_bridge.sync.ports.HeymarketPort` for each API
mode (`gateway`: `V2Gateway`, `V1Gateway`)."""

from heymarket_bridge.adapters.heymarket.auth import Authenticator, Credentials, sign_jwt
from heymarket_bridge.adapters.heymarket.gateway import V1Gateway, V2Gateway
from heymarket_bridge.adapters.heymarket.http import HeymarketHttp

__all__ = ["Authenticator", "Credentials", "HeymarketHttp", "V1Gateway", "V2Gateway", "sign_jwt"]
