"""The school network (学校四级网络): reports from schools to the hotline centre that serves
them, and their handling there."""
