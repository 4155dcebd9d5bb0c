"""The school network (学校四级网络): reports from schools to the hotline centre that serves
them, and their handling there; the schools' screening campaigns (心理普测) and watch
lists (动态清单)."""


def init_app(app) -> None:
    """Join the school network to the application: its access rules, and the reporters
    who are told first of a missed daily report."""
    from casework import deadlines
    from schoolnet import access  # noqa: F401  (registers its access rules)
    from schoolnet.access import reads_screenings
    from schoolnet.services import daily_reporters
    deadlines.first_told["daily_report"] = daily_reporters
    app.add_template_global(reads_screenings, "reads_screenings")
