"""`python -m heymarket_sandbox --port 8099`: see command.main."""

from heymarket_sandbox.command import main

raise SystemExit(main())
