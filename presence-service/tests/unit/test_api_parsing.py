"""The user_ids query parameter: every broken value named, UUIDs normalised, at most 500."""

from __future__ import annotations

import uuid

import pytest
from chat_runtime.http import Problem
from presence_service.api.presence import MAX_USER_IDS, parse_user_ids

pytestmark = pytest.mark.unit


def test_comma_lists_and_repeated_parameters_are_joined_lowercased_and_deduplicated() -> None:
    a, b = str(uuid.uuid4()), str(uuid.uuid4())
    assert parse_user_ids([f"{a.upper()}, {b}", a]) == [a, b]


@pytest.mark.parametrize(
    ("values", "codes"),
    [
        (["not-a-uuid"], ["invalid_uuid"]),
        ([""], ["empty"]),
        ([f"{uuid.uuid4()},,x"], ["empty", "invalid_uuid"]),
        (["' OR 1=1 --"], ["invalid_uuid"]),
        ([",".join(str(uuid.uuid4()) for _ in range(MAX_USER_IDS + 1))], ["too_many"]),
    ],
)
def test_bad_values_are_a_422_problem_listing_every_rule(
    values: list[str], codes: list[str]
) -> None:
    with pytest.raises(Problem) as caught:
        parse_user_ids(values)
    problem = caught.value
    assert problem.status == 422
    assert problem.code == "validation_failed"
    assert [e["code"] for e in problem.errors or []] == codes
    assert problem.detail.startswith("The user_ids parameter is not valid.")


def test_exactly_500_is_fine() -> None:
    ids = [str(uuid.uuid4()) for _ in range(MAX_USER_IDS)]
    assert parse_user_ids([",".join(ids)]) == ids
