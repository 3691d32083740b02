"""What every `choujian` command shares: one line and a non-zero exit code for a known failure, and loading
a scorer with every way that can fail (no such alias, version or folder) said in that one line."""

from __future__ import annotations

from typing import TYPE_CHECKING, NoReturn

import typer

if TYPE_CHECKING:
    from models.bundle import ScorerBundle

#: exit codes: 2 a known failure (bad input, missing file or model); 3 a refusal that is not an error
#: (`promote` keeping the champion), so scripts can tell them apart
EXIT_FAILURE = 2
EXIT_REFUSED = 3

NO_MODEL_HINT = (
    "train and promote one (`choujian train`, then `choujian promote`), or pass an alias, a version number or a "
    "bundle folder to --model"
)


def fail(message: str, *, code: int = EXIT_FAILURE) -> NoReturn:
    """One red line on stderr and exit code 2: a known failure, never a traceback."""
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


def first_line(e: BaseException | str) -> str:
    """A message on one line (MLflow and pydantic messages run over several)."""
    text = " ".join(str(e).split())
    return text or type(e).__name__


def is_registry_error(e: BaseException) -> bool:
    """MLflow raises its own exception types for a missing model, alias or version, or an unreachable registry."""
    return type(e).__module__.split(".")[0] == "mlflow"


def model_problem(ref: str, e: BaseException) -> str:
    """The one line for a scorer that cannot be loaded, with what to do about it."""
    if isinstance(e, FileNotFoundError):
        return f"no scorer {ref!r}: {first_line(e)}; pass an alias, a version number or a bundle folder to --model"
    return f"no scorer {ref!r} ({first_line(e)}): {NO_MODEL_HINT}"


def load_scorer_or_fail(ref: str) -> ScorerBundle:
    """`models.registry.load_scorer`, failing with one line when the alias, version or folder does not exist."""
    from models.registry import load_scorer

    try:
        return load_scorer(ref)
    except (FileNotFoundError, NotADirectoryError) as e:
        fail(model_problem(ref, e))
    except Exception as e:
        if is_registry_error(e):
            fail(model_problem(ref, e))
        raise
