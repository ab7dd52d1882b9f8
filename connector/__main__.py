"""``python -m connector`` is ``cfkafka``."""

from connector.cli import main

raise SystemExit(main())
