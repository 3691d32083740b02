"""Batch scoring of whole markets: `choujian score-batch` with a pandas or a Spark engine.

Both engines score with the registered bundle's `score_frame` (the same pipeline as the API) and
write `listing_id` plus one `p_<risk>` column per `models.contract.RISKS`. See docs/spark.md.
"""

from training.batch.common import OUTPUT_COLUMNS, SCORE_COLUMNS, BatchResult, check_local_market, read_scores
from training.batch.pandas_engine import score_pandas

__all__ = ["OUTPUT_COLUMNS", "SCORE_COLUMNS", "BatchResult", "check_local_market", "read_scores", "score_pandas"]
