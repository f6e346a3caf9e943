"""Direct rooms of a set of users (api-v1.1 C), pure: the key of a set, the others of a group
and the request body's rules."""

from __future__ import annotations

import uuid

import pytest
from message_service.api.dms import OpenDirect
from message_service.domain.errors import InvalidField
from message_service.domain.model import direct_key
from message_service.services.direct_rooms import group_others
from pydantic import ValidationError

pytestmark = pytest.mark.unit

ME = uuid.UUID("00000000-0000-4000-8000-000000000001")


def people(n: int) -> list[uuid.UUID]:
    return [uuid.UUID(int=i + 2) for i in range(n)]


def test_a_pair_keeps_the_v1_key() -> None:
    a, b = sorted(people(2))
    assert direct_key(b, a) == direct_key(a, b) == f"{a}:{b}"
    assert direct_key(ME, ME) == f"{ME}:{ME}"  # notes to yourself, as in v1
    assert direct_key(ME) == f"{ME}:{ME}"


def test_a_set_has_one_key_whatever_the_order_and_repeats() -> None:
    a, b, c = people(3)
    key = direct_key(ME, a, b, c)
    assert key == ":".join(str(u) for u in sorted((ME, a, b, c)))
    assert direct_key(c, b, ME, a) == direct_key(a, a, c, b, ME, ME) == key
    assert direct_key(ME, a, b) != key
    assert direct_key(ME, a, b) != direct_key(ME, a)


def test_group_others_leave_out_the_caller() -> None:
    a, b = people(2)
    assert group_others(ME, [ME, a, b]) == {a, b}
    assert group_others(ME, [b, a]) == {a, b}


@pytest.mark.parametrize("size", range(1, 10))
def test_a_group_has_2_to_8_others(size: int) -> None:
    listed = people(size)
    if 2 <= size <= 8:
        assert group_others(ME, listed) == set(listed)
        return
    with pytest.raises(InvalidField) as refused:
        group_others(ME, listed)
    assert (refused.value.field, refused.value.rule) == ("user_ids", "group_size")


def test_a_pair_with_yourself_listed_is_too_small() -> None:
    (a,) = people(1)
    with pytest.raises(InvalidField):
        group_others(ME, [ME, a])


def test_the_body_takes_user_id_or_user_ids() -> None:
    a, b = people(2)
    assert OpenDirect.model_validate({"user_id": str(a)}).user_id == a
    assert OpenDirect.model_validate({"user_ids": [str(a), str(b)]}).user_ids == [a, b]
    for body in (
        {},
        {"user_id": str(a), "user_ids": [str(a), str(b)]},
        {"user_ids": [str(a), str(a)]},  # each person once
        {"user_ids": [str(a)]},
        {"user_ids": [str(u) for u in people(10)]},  # more than 8 others and you
        {"user_ids": ["nope", str(b)]},
        {"user_ids": None},
    ):
        with pytest.raises(ValidationError):
            OpenDirect.model_validate(body)
    # The caller may list themselves beside 8 others.
    assert (
        len(OpenDirect.model_validate({"user_ids": [str(u) for u in people(9)]}).user_ids or [])
        == 9
    )
