"""The commands of `heymarket-bridge`, one module per command family, each imported only when its command runs."""
