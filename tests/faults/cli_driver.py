"""Child process of the fault suite: runs several ``artem-vr`` command lines through the real entry
point (:func:`artem_vr.cli.main`) in ONE interpreter, so the imports are paid once. Each case has
its own environment additions and its own stdout/stderr files (file descriptors 1 and 2 are
redirected, so C libraries' output is caught too). The permission class runs it under
``setpriv`` when the suite is root (see test_fault_classes.py).

    python cli_driver.py PLAN.json     # {"result": path, "cases": [{argv, env, stdout, stderr}]}
"""

from __future__ import annotations

import json
import os
import sys
import traceback


def main() -> None:
    plan = json.loads(open(sys.argv[1]).read())
    from artem_vr import text
    from artem_vr.cli import main as cli_main

    results = []
    for case in plan["cases"]:
        os.environ.update(case.get("env", {}))
        sys.stdout.flush()
        sys.stderr.flush()
        saved = os.dup(1), os.dup(2)
        with open(case["stdout"], "w") as out, open(case["stderr"], "w") as err:
            os.dup2(out.fileno(), 1)
            os.dup2(err.fileno(), 2)
            try:
                code = cli_main(case["argv"])
            except SystemExit as e:  # argparse's own errors
                code = e.code if isinstance(e.code, int) else 2
            except BaseException:  # what escaped the CLI is a failure of the test's subject
                traceback.print_exc()
                code = "escaped"
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os.dup2(saved[0], 1)
                os.dup2(saved[1], 2)
                os.close(saved[0])
                os.close(saved[1])
                text._stdout_gone = False  # noqa: SLF001  (each case has its own stdout)
        for k in case.get("env", {}):
            os.environ.pop(k, None)
        results.append(code)
    with open(plan["result"], "w") as f:
        json.dump(results, f)


if __name__ == "__main__":
    main()
