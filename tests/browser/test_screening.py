"""One warning from a screening's results file to the watch list, on 360 px phones: the
school's psychology centre starts a campaign and imports a GBK file, the student's head
teacher interviews the warned student, the psychology centre grades them moderate, and the
student is on the watch list with an owner and a review date."""
from __future__ import annotations

from datetime import date, timedelta

from playwright.sync_api import expect

from tests.browser.conftest import no_sideways_scroll, screenshot, sign_in

PHONE = (360, 740)


def test_one_warning_goes_from_the_results_file_to_the_watch_list(open_page, tmp_path):
    results = tmp_path / "普测结果.csv"
    results.write_bytes("学号,姓名,总分,第9题\n2023010101,王小明,15,0\n"
                        "2023010102,李思雨,3,0\n".encode("gbk"))
    centre = open_page(viewport=PHONE)
    sign_in(centre, "no1.centre")
    centre.get_by_role("link", name="心理筛查").first.click()
    expect(centre.locator("h1")).to_have_text("心理普测")
    centre.locator("#campaign-name").fill("2026级新生心理普测")
    centre.get_by_role("button", name="开始普测").click()
    expect(centre.locator(".flash.success")).to_contain_text("心理普测已开始")
    expect(centre.locator("h1")).to_have_text("2026级新生心理普测")

    refused = tmp_path / "bad.csv"
    refused.write_bytes("学号,总分,第9题\n9999,30,0\n".encode("gbk"))
    centre.locator("#results-file").set_input_files(str(refused))
    centre.get_by_role("button", name="导入", exact=True).click()
    expect(centre.locator(".flash.error").first).to_contain_text("未导入任何数据")
    expect(centre.locator(".flash.error").nth(1)).to_contain_text("第2行")
    no_sideways_scroll(centre)

    centre.locator("#results-file").set_input_files(str(results))
    centre.get_by_role("button", name="导入", exact=True).click()
    expect(centre.locator(".flash.success")).to_contain_text("已导入 2 条结果：预警 1 人")
    warning = centre.locator("#warnings > li")
    expect(warning).to_have_count(1)
    expect(warning).to_contain_text("王小明")
    expect(warning).to_contain_text("待一对一约谈")
    expect(centre.locator("#funnel")).to_contain_text("参加普测")
    no_sideways_scroll(centre)
    screenshot(centre, "screening-campaign-imported-360px")
    campaign_url = centre.url

    teacher = open_page(viewport=PHONE)
    sign_in(teacher, "no1.head.c1")
    teacher.get_by_role("link", name="心理筛查").first.click()
    teacher.get_by_role("link", name="2026级新生心理普测").click()
    item = teacher.locator("#warnings > li").filter(has_text="王小明")
    item.locator("summary", has_text="记录一对一约谈").click()
    item.locator("select[name=outcome]").select_option("second_warning")
    item.locator("textarea[name=note]").fill("近两周情绪低落，睡眠差，愿意接受心理老师的帮助")
    item.get_by_role("button", name="保存约谈").click()
    expect(teacher.locator(".flash.success")).to_contain_text("约谈已记录")
    expect(teacher.locator("#warnings > li")).to_contain_text("二次预警：待评估")
    no_sideways_scroll(teacher)
    screenshot(teacher, "screening-interview-recorded-360px")

    committee = open_page(viewport=PHONE)
    sign_in(committee, "no1.c1.committee")
    expect(committee.get_by_role("link", name="心理筛查")).to_have_count(0)
    assert committee.goto(campaign_url).status == 404  # scores stay confidential

    centre.reload()
    item = centre.locator("#warnings > li").filter(has_text="王小明")
    item.locator("summary", has_text="评估定级").click()
    item.locator("select[name=risk_level]").select_option("moderate")
    item.get_by_role("button", name="保存评估").click()  # no plan: refused, nothing saved
    expect(centre.locator("p.flash.error").first).to_contain_text("请填写一人一策")
    item = centre.locator("#warnings > li").filter(has_text="王小明")
    expect(item).to_contain_text("二次预警：待评估")
    review_on = date.today() + timedelta(days=14)
    item.locator("textarea[name=plan]").fill("班主任每周谈心一次，心理老师每两周咨询一次")
    item.locator("input[name=review_on]").fill(review_on.isoformat())
    item.get_by_role("button", name="保存评估").click()
    expect(centre.locator(".flash.success")).to_contain_text("评估定级已记录")
    expect(centre.locator("#funnel")).to_contain_text("定级为中")
    screenshot(centre, "screening-graded-360px")

    centre.get_by_role("link", name="动态清单").first.click()
    entry = centre.locator("#watch-list > li").filter(has_text="王小明")
    expect(entry).to_contain_text("孙丽")  # the head teacher who interviewed follows them
    expect(entry).to_contain_text(review_on.isoformat())
    expect(entry).to_contain_text("班主任每周谈心一次")
    no_sideways_scroll(centre)
    screenshot(centre, "watch-list-360px")

    meeting = centre.locator("ol.meeting > li").filter(has_text="王小明")
    meeting.locator("select[name^=decision]").select_option("remove")
    centre.get_by_role("button", name="保存研判会记录").click()  # removing needs the reason
    expect(centre.locator("p.flash.error").first).to_contain_text("请说明移出清单的原因")
    meeting = centre.locator("ol.meeting > li").filter(has_text="王小明")
    expect(meeting.locator("select[name^=decision]")).to_have_value("remove")
    meeting.locator("select[name^=decision]").select_option("keep")
    meeting.locator("input[name^=next_review_on]").fill(
        (date.today() + timedelta(days=30)).isoformat())
    centre.get_by_role("button", name="保存研判会记录").click()
    expect(centre.locator(".flash.success")).to_contain_text("研判会已记录")
    expect(centre.locator("#watch-list > li").filter(has_text="王小明")).to_contain_text(
        (date.today() + timedelta(days=30)).isoformat())
    no_sideways_scroll(centre)
    screenshot(centre, "review-meeting-360px")
