"""Entry point for `spark-submit`, which needs a Python file: runs `choujian score-batch --engine spark`
inside the session spark-submit started (its master and settings are kept). See docs/spark.md.

    spark-submit [spark options] cli/spark_submit.py --input DIR --output OUT.parquet [--model ...]
"""

from __future__ import annotations

import os
import sys

# spark-submit runs this file as a script, so its folder is sys.path[0], where cli/models.py and
# cli/batch.py would shadow the `models` package and others: take the folder off the path first
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != os.path.dirname(os.path.abspath(__file__))]


def main(argv: list[str] | None = None) -> None:
    """Run `score-batch` with the Spark engine on the given command-line arguments."""
    from cli.main import app

    args = list(sys.argv[1:] if argv is None else argv)
    if "--engine" in args:
        sys.exit("submit.py always uses the Spark engine; drop --engine")
    app(["score-batch", "--engine", "spark", *args], prog_name="choujian-submit")


if __name__ == "__main__":
    main()
