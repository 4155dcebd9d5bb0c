"""A screening campaign's results, as the scale's software exports them:
``crisisline import screening FILE --campaign ID`` or the campaign's page.

One row per student: 学号 and 总分 (the total); for PHQ-9 also 第9题 (the self-harm item).
The items 第1题…第9题 (PHQ-9) or 第1题…第7题 (GAD-7) may replace 总分: then the total is
their sum (given both, they must agree). A custom scale has a total only. A student the
school does not know, a score out of the scale's range, or a student already screened in
this campaign is a problem of that row; the file's rows are saved all or none.
"""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from casework.models import Student
from crisisline.database import db
from crisisline.imports import Column, ImportRun, RowInvalid, RowSchema, register
from schoolnet.models import ScreeningCampaign, ScreeningResult
from schoolnet.screening import record_result, scale_of

MOST_ITEMS = 9


def _item(number: int) -> str:
    return f"item{number}"


@register
class ScreeningRows(RowSchema):
    kind = "screening"
    label = _l("Screening results")
    needs = ("campaign_id",)
    columns = (
        Column("student_number", "学号", required=True),
        Column("name", "姓名"),  # kept by many exports; not checked against the roster
        Column("total", "总分"),
        *(Column(_item(number), f"第{number}题") for number in range(1, MOST_ITEMS + 1)),
    )

    def key(self, values: dict) -> tuple:
        return (values["student_id"],)

    def check(self, row: dict[str, str], run: ImportRun) -> dict:
        campaign = _campaign(run)
        scale = scale_of(campaign)
        problems: dict = {}
        number = row["student_number"].strip()
        student_id = None
        if not number:
            problems["student_number"] = _l("required")
        else:
            student_id = db.scalar(select(Student.id).where(
                Student.school_id == campaign.school_id, Student.student_number == number))
            if student_id is None:
                problems["student_number"] = _l("no student with this number at the school")
            elif db.scalar(select(ScreeningResult.id).where(
                    ScreeningResult.campaign_id == campaign.id,
                    ScreeningResult.student_id == student_id)) is not None:
                problems["student_number"] = _l("the student has a result in this campaign "
                                                "already")
        items = []
        for position in range(1, MOST_ITEMS + 1):
            text = row[_item(position)].strip()
            if position > scale.items:
                if text:
                    problems[_item(position)] = _l("the scale has no item %(number)d",
                                                   number=position)
                continue
            items.append(_score(text, scale.item_max, _item(position), problems))
        total = _score(row["total"].strip(), scale.max_total, "total", problems)
        given = [item for item in items if item is not None]
        answered = {position for position, item in enumerate(items, start=1)
                    if item is not None}
        if any(_item(position) in problems for position in range(1, MOST_ITEMS + 1)):
            pass  # the total is checked against items that are all readable
        elif total is None and "total" not in problems:
            if not given:
                problems["total"] = _l("give the total, or every item's answer")
            elif len(given) < scale.items:
                problems["total"] = _l("give every item's answer, or the total")
            else:
                total = sum(given)
        elif len(given) == scale.items and total is not None and total != sum(given):
            problems["total"] = _l("the total is not the sum of the items (%(sum)d)",
                                   sum=sum(given))
        elif given and len(given) < scale.items and answered != {scale.self_harm_item}:
            problems["total"] = _l("give every item's answer, or the total alone")
        self_harm = None
        if scale.self_harm_item is not None:
            self_harm = items[scale.self_harm_item - 1]
            if self_harm is None and _item(scale.self_harm_item) not in problems:
                problems[_item(scale.self_harm_item)] = _l(
                    "required: the answer to the self-harm item")
            elif self_harm is not None and total is not None and total < self_harm:
                problems["total"] = _l("the total is less than the self-harm item's answer")
        if problems:
            raise RowInvalid(problems)
        return {"student_id": student_id, "total": total,
                "items": given if len(given) == scale.items else None,
                "self_harm": self_harm}

    def save(self, values: dict, run: ImportRun) -> str:
        warning = record_result(run.actor, _campaign(run),
                                db.get(Student, values["student_id"]),
                                total=values["total"], items=values["items"],
                                self_harm=values["self_harm"])
        if warning is not None:
            run.counted["warnings"] += 1
            run.counted["urgent"] += warning.urgent
        return "created"


def _campaign(run: ImportRun) -> ScreeningCampaign:
    campaign = run.seen.get("campaign")
    if campaign is None:
        campaign = run.seen["campaign"] = db.get(ScreeningCampaign,
                                                 run.context["campaign_id"])
    return campaign


def _score(text: str, highest: int, name: str, problems: dict) -> int | None:
    if not text:
        return None
    if not (text.isascii() and text.isdigit()) or int(text) > highest:
        problems[name] = _l("a whole number from 0 to %(highest)d", highest=highest)
        return None
    return int(text)
