"""Decision rules, merchant grades and settings validation: pure functions, no app."""

from __future__ import annotations

import pytest
from pydantic import SecretStr, ValidationError

from serving.decisions import MIN_MERCHANT_REVIEWS, Decision, Grade, decide, merchant_evidence, merchant_grade
from serving.settings import DEFAULT_BLOCK, DEFAULT_REVIEW, Settings

REVIEW = {"lab_fail": 0.35, "counterfeit": 0.4}
BLOCK = {"lab_fail": 0.8, "counterfeit": 0.85}


@pytest.mark.parametrize(
    ("probs", "expected", "risks"),
    [
        ({"lab_fail": 0.1, "counterfeit": 0.39}, Decision.accept, []),
        ({"lab_fail": 0.35, "counterfeit": 0.1}, Decision.review, ["lab_fail"]),  # thresholds are inclusive
        ({"lab_fail": 0.5, "counterfeit": 0.6}, Decision.review, ["counterfeit", "lab_fail"]),
        ({"lab_fail": 0.5, "counterfeit": 0.9}, Decision.block, ["counterfeit", "lab_fail"]),
        ({"lab_fail": 0.99, "merchant_complaint": 0.99}, Decision.block, ["lab_fail"]),  # no threshold: ignored
    ],
)
def test_decide(probs: dict[str, float], expected: Decision, risks: list[str]) -> None:
    decision, triggers = decide(probs, review=REVIEW, block=BLOCK)
    assert decision is expected
    assert [t.risk for t in triggers] == risks
    if triggers:
        assert triggers[0].level is decision


def test_decide_is_monotone() -> None:
    order = {Decision.accept: 0, Decision.review: 1, Decision.block: 2}
    last = -1
    for i in range(101):
        d, _ = decide({"lab_fail": i / 100}, review=REVIEW, block=BLOCK)
        assert order[d] >= last
        last = order[d]
    assert last == 2


@pytest.mark.parametrize(
    ("p", "kw", "grade", "codes"),
    [
        (0.1, {}, Grade.green, {"LOW_RISK"}),
        (0.3, {}, Grade.yellow, {"COMPLAINT_RISK_ELEVATED"}),
        (0.6, {}, Grade.red, {"COMPLAINT_RISK_HIGH"}),
        (0.1, {"registry_status": "abnormal_operations"}, Grade.yellow, {"ABNORMAL_OPERATIONS"}),
        (0.1, {"registry_status": "serious_violation"}, Grade.red, {"SERIOUS_VIOLATION_LIST"}),
        (0.1, {"registry_status": "revoked"}, Grade.red, {"LICENCE_REVOKED"}),
        (0.1, {"removals_elsewhere": 2}, Grade.yellow, {"REMOVED_ELSEWHERE"}),
        (0.7, {"registry_status": "abnormal_operations"}, Grade.red, {"COMPLAINT_RISK_HIGH", "ABNORMAL_OPERATIONS"}),
    ],
)
def test_merchant_grade(p: float, kw: dict[str, object], grade: Grade, codes: set[str]) -> None:
    g, reasons = merchant_grade(p, **kw)  # type: ignore[arg-type]
    assert g is grade
    assert {r.code for r in reasons} == codes
    assert all(r.zh and r.en for r in reasons)


@pytest.mark.parametrize(
    ("p", "n_reviews", "kw", "grade", "codes"),
    [
        # one 1-star review behind a high score: yellow, never red on the score alone
        (0.9, 1, {}, Grade.yellow, {"COMPLAINT_RISK_HIGH_LITTLE_EVIDENCE"}),
        (0.9, 0, {}, Grade.yellow, {"COMPLAINT_RISK_HIGH_LITTLE_EVIDENCE"}),
        (0.9, MIN_MERCHANT_REVIEWS, {}, Grade.red, {"COMPLAINT_RISK_HIGH"}),  # enough reviews: the score grades
        (0.4, 1, {}, Grade.yellow, {"COMPLAINT_RISK_ELEVATED", "LITTLE_EVIDENCE"}),
        (0.1, 1, {}, Grade.green, {"LOW_RISK", "LITTLE_EVIDENCE"}),
        (0.1, 10, {}, Grade.green, {"LOW_RISK"}),
        # the public registry is evidence of its own: still red
        (0.9, 1, {"registry_status": "revoked"}, Grade.red, {"COMPLAINT_RISK_HIGH_LITTLE_EVIDENCE", "LICENCE_REVOKED"}),
    ],
)
def test_too_little_evidence_never_grades_red_on_the_score_alone(
    p: float, n_reviews: int, kw: dict[str, object], grade: Grade, codes: set[str]
) -> None:
    evidence = merchant_evidence(n_listings=1, n_reviews=n_reviews)
    assert evidence.too_little_evidence is (n_reviews < MIN_MERCHANT_REVIEWS)
    g, reasons = merchant_grade(p, evidence=evidence, **kw)  # type: ignore[arg-type]
    assert g is grade
    assert {r.code for r in reasons} == codes
    thin = [r for r in reasons if "EVIDENCE" in r.code]
    assert all(f"{n_reviews} 条评价" in r.zh and f"{n_reviews} review(s)" in r.en for r in thin)


def test_grade_thresholds_validated() -> None:
    with pytest.raises(ValueError):
        merchant_grade(0.5, yellow_at=0.7, red_at=0.6)


def test_settings_env_and_placeholders(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHOUJIAN_DATABASE_URL", "postgresql+psycopg://u@db/choujian")
    monkeypatch.setenv("CHOUJIAN_REVIEW_THRESHOLDS", '{"lab_fail": 0.2}')
    s = Settings()
    assert s.database_url.startswith("postgresql+psycopg://") and s.review_thresholds == {"lab_fail": 0.2}
    assert s.model_ref == "models:/choujian-listing@champion"
    assert Settings(environment="development").secret_key is None  # each installation generates its own
    with pytest.raises(ValidationError, match="CHOUJIAN_SECRET_KEY is a placeholder"):
        Settings(environment="production")
    with pytest.raises(ValidationError, match="CHOUJIAN_SECRET_KEY"):
        Settings(environment="production", secret_key=SecretStr("short"))
    with pytest.raises(ValidationError, match="BOOTSTRAP_ADMIN_KEY"):
        Settings(environment="production", secret_key=SecretStr("k" * 32), bootstrap_admin_key=SecretStr("changeme"))
    assert Settings(environment="production", secret_key=SecretStr("k" * 32)).environment == "production"


def test_settings_threshold_checks() -> None:
    assert Settings().review_thresholds == DEFAULT_REVIEW and Settings().block_thresholds == DEFAULT_BLOCK
    with pytest.raises(ValidationError, match="unknown risk"):
        Settings(review_thresholds={"typo": 0.3})
    with pytest.raises(ValidationError, match="above its block threshold"):
        Settings(review_thresholds={"lab_fail": 0.9}, block_thresholds={"lab_fail": 0.5})
    with pytest.raises(ValidationError, match="within"):
        Settings(block_thresholds={"lab_fail": 1.5})
