from reelmatch.cli.main import main

raise SystemExit(main())
