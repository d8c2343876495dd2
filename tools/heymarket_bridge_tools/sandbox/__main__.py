"""`python -m heymarket_bridge_tools.sandbox --port 8099`: see command.main."""

from heymarket_bridge_tools.sandbox.command import main

raise SystemExit(main())
