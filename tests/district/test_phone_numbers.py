"""phone_number(): what people type in China, stored as E.164 (the staff and student
imports and forms read phones with it too)."""
from __future__ import annotations

import pytest

from crisisline.validation import PhoneNumberError, phone_number


@pytest.mark.parametrize("typed, stored", [
    ("13800138000", "+8613800138000"),  # a mainland mobile
    ("138 0013 8000", "+8613800138000"), ("138-0013-8000", "+8613800138000"),
    ("１３８００１３８０００", "+8613800138000"),  # full-width digits (a Chinese keyboard)
    ("+86 138 0013 8000", "+8613800138000"), ("0086 13800138000", "+8613800138000"),
    ("8613800138000", "+8613800138000"),  # Excel dropped the +
    ("010-12345678", "+861012345678"),  # a Beijing landline
    ("(0755) 1234567", "+867551234567"), ("021 6666 8888", "+862166668888"),
    ("+86 010 12345678", "+861012345678"),  # the trunk 0 kept after +86
    ("+852 2123 4567", "+85221234567"),  # Hong Kong keeps its country code
    ("12356", "+8612356"), ("+8612356", "+8612356"),  # the psychological aid line
    ("400-123-4567", "+864001234567"), ("800 123 4567", "+868001234567"),
])
def test_numbers_as_people_type_them_are_stored_in_e164(typed, stored):
    assert phone_number(typed) == stored


@pytest.mark.parametrize("typed", ["", "   ", "1234", "23456", "123456", "1380013800",
                                   "138001380001",
                                   "12345678", "010-0123456", "abc", "138OO138000",
                                   "+0123456789", "+1234567", "+1234567890123456",
                                   "13800138000 ext 12"])
def test_what_is_not_a_dialable_number_is_refused_with_a_marked_reason(app, typed):
    with pytest.raises(PhoneNumberError) as refusal:
        phone_number(typed)
    from crisisline.messages import shown
    with app.test_request_context():
        assert shown(refusal.value.message)  # marked and translated (checked under test)
