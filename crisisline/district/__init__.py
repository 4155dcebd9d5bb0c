"""The district an administrator sets up without code: hotline centres and their numbers,
schools with their units (院系/年级 → 班级, 宿舍楼 → 宿舍) and designated hospitals,
hospitals with their green channels, and each centre's teams (pages, JSON API, import)."""
