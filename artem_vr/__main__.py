from artem_vr.cli import main

raise SystemExit(main())
