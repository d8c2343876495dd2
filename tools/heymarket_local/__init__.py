"""The local stack and its testkit: the bridge on one machine (moto, the Heymarket sandbox, the real handlers)."""
