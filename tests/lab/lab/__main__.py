import sys

if sys.argv[1:2] == ["exec"]:
    # Run by the lab kubelet for every `kubectl exec`: without the CLI's imports (~0.2 s).
    from lab.exec import main as exec_main

    sys.exit(exec_main(sys.argv[2:]))

from lab.cli import main

sys.exit(main())
