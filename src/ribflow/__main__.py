from ribflow.cli import main

raise SystemExit(main())
